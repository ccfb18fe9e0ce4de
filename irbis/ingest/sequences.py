"""Group a camera's frames into sequences (bursts): a new sequence when the gap is too long."""

from __future__ import annotations

from datetime import datetime, timedelta


def apply_offset(datetime_original: str | None, offset_s: float) -> str | None:
    if datetime_original is None:
        return None
    t = datetime.fromisoformat(datetime_original) + timedelta(seconds=offset_s)
    return t.isoformat()


def build_sequences(deployment: str, frames: list[tuple[int, str, str | None]], gap_s: float,
                    offset_s: float = 0.0):
    """Split one deployment's frames into sequences.

    frames: (image id, rel_path, datetime_original). Frames are ordered by corrected time, then
    file name; a gap larger than ``gap_s`` starts a new sequence. Frames without a time are each
    their own sequence. Returns (frame rows, sequence rows) for :meth:`Catalog.replace_sequences`.
    """
    timed: list[tuple] = []
    untimed: list[tuple] = []
    for image_id, rel, dto in frames:
        taken = apply_offset(dto, offset_s)
        (timed if taken else untimed).append((taken, rel, image_id))
    timed.sort()
    untimed.sort(key=lambda f: f[1])

    groups: list[list[tuple]] = []
    last: datetime | None = None
    for taken, rel, image_id in timed:
        t = datetime.fromisoformat(taken)
        if last is None or (t - last).total_seconds() > gap_s:
            groups.append([])
        groups[-1].append((taken, rel, image_id))
        last = t
    groups += [[f] for f in untimed]

    frame_rows, seq_rows = [], []
    for k, group in enumerate(groups, start=1):
        seq_id = f"{deployment}#{k:05d}"
        for idx, (taken, _rel, image_id) in enumerate(group):
            frame_rows.append((image_id, taken, seq_id, idx))
        seq_rows.append((seq_id, group[0][0], group[-1][0], len(group)))
    return frame_rows, seq_rows
