"""What irbis writes stays what it was: train -> featurize -> predict -> detect -> run on 8 fixed photos
give the recorded digests (tests/golden/digests.json, made by tests/golden/record.py).

A change meant to alter outputs (a new detector default, say) regenerates them and says so:
    python tests/golden/record.py /tmp/golden && cp /tmp/golden/digests.json tests/golden/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))

from record import photo_set, record  # noqa: E402


@pytest.mark.slow
def test_outputs_equal_the_recorded_ones(tmp_path):
    expected = json.loads((GOLDEN / "digests.json").read_text())
    got = record(tmp_path / "out", photo_set())
    changed = [k for k in expected if got.get(k) != expected[k]]
    assert not changed, (f"outputs changed: {changed}. If intended, regenerate tests/golden/digests.json "
                         f"(see this file's docstring) and say why in the commit.")
