"""ONNX Runtime plumbing shared by every network: runtime choice, export, sessions.

Networks are exported once per weights digest and input size (batch 1: the fastest on a small
CPU, and static shapes keep TensorFlow-style padding exact), cached under the irbis home and
written atomically so concurrent processes never read half a graph.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..faults import ModelLoadError, describe

RUNTIMES = ("auto", "onnx", "torch")


def onnxruntime_module():
    try:
        import onnxruntime
        return onnxruntime
    except ImportError:
        return None


def choose_runtime(runtime: str) -> str:
    """'auto' -> 'onnx' when ONNX Runtime is installed, else 'torch'; validates the name."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}")
    if runtime == "auto":
        return "onnx" if onnxruntime_module() else "torch"
    if runtime == "onnx" and not onnxruntime_module():
        raise RuntimeError("runtime 'onnx' needs onnxruntime: pip install onnxruntime")
    return runtime


def remove_stale_exports(path: Path) -> None:
    """Delete half-written graphs (``NAME.tmpPID``) left by processes that were killed mid-export."""
    for tmp in path.parent.glob(f"{path.stem}.tmp*"):
        pid = tmp.suffix[len(".tmp"):]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            tmp.unlink(missing_ok=True)


def export_onnx(module: torch.nn.Module, resolution: int | tuple[int, int], path: Path) -> None:
    """Export ``module`` for a (1, 3, res, res) input (or (1, 3, H, W) for res = (H, W)); written atomically."""
    h, w = resolution if isinstance(resolution, tuple) else (resolution, resolution)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_exports(path)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), (torch.zeros(1, 3, h, w),), str(tmp),
                              input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
        os.replace(tmp, path)
    except BaseException:       # disk full, killed export: leave no partial graph behind
        tmp.unlink(missing_ok=True)
        raise


def open_session(path: Path, make_module: Callable[[], torch.nn.Module], resolution: int | tuple[int, int],
                 threads: int = 1):
    """An inference session for the graph at ``path``, exporting ``make_module()`` first if needed.

    Raises :class:`~irbis.faults.ModelLoadError` (a fault of the machine, which stops a run) when
    the graph cannot be written or loaded; a corrupt cached graph is removed so a re-run re-exports."""
    try:
        if not path.exists():
            export_onnx(make_module(), resolution, path)
    except Exception as exc:
        raise ModelLoadError(f"cannot export the model graph to {path}: {describe(exc)}") from exc
    return cpu_session(path, threads, "the model graph", "exports")


def cpu_session(path: Path, threads: int, what: str, remedy: str):
    """A CPU session on the cached graph ``path`` (``threads`` intra-op threads, one inter-op).

    A graph that cannot be loaded is a corrupt cache: it is removed (a re-run ``remedy`` it
    again) and :class:`~irbis.faults.ModelLoadError` is raised."""
    ort = onnxruntime_module()
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        path.unlink(missing_ok=True)
        raise ModelLoadError(f"cannot load {what} {path} (removed; a re-run {remedy} it again): "
                             f"{describe(exc)}") from exc


def run_per_image(session, batch: np.ndarray) -> np.ndarray:
    """Run a batch-1 graph over every image of ``batch`` and stack the outputs."""
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    return np.concatenate([session.run(None, {"x": batch[i:i + 1]})[0] for i in range(len(batch))])
