"""INT8 graphs of MegadetectorLite's YOLOX-tiny for ONNX Runtime (static, QDQ, per channel).

Static quantization needs the range of every activation. They were measured once on dev
camera-trap frames (``bench/int8_calibrate.py``: jaguars, heron burst, MegaDetector samples;
never the holdout) and ship as ``irbis/data/mdlite-int8-ranges.json``, one table per input size,
in ONNX Runtime's own calibration-cache format; a user's machine quantizes its exported float
graph with them, needing no photos. The head's box decoding (sigmoid, exp, grid offsets) and
the three prediction convolutions stay float: quantized, every box moved.

Measured with ``bench/detect_v2_speed.py --interleaved`` and ``bench/detector_boxes.py --levers``
(README, "Detector speed").
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..faults import ModelLoadError, describe
from .onnx_runtime import cpu_session, export_onnx, remove_stale_exports

RANGES_FILE = "mdlite-int8-ranges.json"


def decode_nodes(model) -> list[str]:
    """Nodes left in float: the head's own ops (box decoding) and its prediction convolutions."""
    return [n.name for n in model.graph.node
            if (n.name.startswith("/head/") and n.name.count("/") <= 2) or "_preds" in n.name]


def _quantize(fp32: Path, out: Path, cache: Path, reader=None) -> None:
    """fp32 graph -> QDQ INT8 graph at ``out``; ranges from ``cache`` (or measured with ``reader``)."""
    import inspect

    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise RuntimeError("this onnxruntime cannot quantize with stored activation ranges "
                           "(quantize_static has no calibration_cache_path); onnxruntime 1.32 can")
    with tempfile.TemporaryDirectory(prefix="irbis-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))
        quantize_static(str(pre), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=decode_nodes(onnx.load(str(pre))), calibration_cache_path=str(cache))


def calibrate(fp32: Path, inputs: Sequence[np.ndarray]) -> dict:
    """Activation ranges of the graph at ``fp32`` over ``inputs`` ((1, 3, H, W) arrays), as JSON data."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(inputs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"x": np.ascontiguousarray(x, dtype=np.float32)}

    with tempfile.TemporaryDirectory(prefix="irbis-int8-") as tmp:
        cache = Path(tmp) / "ranges.json"
        _quantize(fp32, Path(tmp) / "q.onnx", cache, Reader())
        return json.loads(cache.read_text())


def shipped_ranges(input_size: int) -> dict:
    """The shipped activation ranges for a pass at ``input_size`` (the nearest size measured)."""
    tables = json.loads(resources.files("irbis").joinpath("data", RANGES_FILE).read_text())
    size = min(tables, key=lambda s: abs(int(s) - input_size))
    return tables[size]


def quantize_graph(fp32: Path, out: Path, input_size: int) -> None:
    """Write the INT8 graph of ``fp32`` to ``out`` atomically, with the shipped ranges."""
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_exports(out)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    try:
        with tempfile.TemporaryDirectory(prefix="irbis-int8-") as d:
            cache = Path(d) / "ranges.json"
            cache.write_text(json.dumps(shipped_ranges(input_size)))
            _quantize(fp32, tmp, cache)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_int8_session(path: Path, fp32: Path, make_module: Callable[[], torch.nn.Module],
                      resolution: tuple[int, int], input_size: int, threads: int = 1):
    """A session on the INT8 graph at ``path``, exporting (``fp32``) and quantizing it first if needed."""
    try:
        if not path.exists():
            if not fp32.exists():
                export_onnx(make_module(), resolution, fp32)
            quantize_graph(fp32, path, input_size)
    except Exception as exc:
        raise ModelLoadError(f"cannot write the INT8 detector graph {path}: {describe(exc)}") from exc
    return cpu_session(path, threads, "the INT8 detector graph", "writes")
