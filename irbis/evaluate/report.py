"""One self-contained HTML report (PNG plots embedded as base64) and atomic file writes."""

from __future__ import annotations

import base64
import html
import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Iterable

from .. import __version__
from ..atomic import atomic_write  # noqa: F401  (re-exported for callers)

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{margin-bottom:.1em} .sub{color:#555;margin-top:.2em} .data{background:#fff6d6;border-left:4px solid #e0b000;
padding:.5em .8em;margin:1em 0} table{border-collapse:collapse;margin:.6em 0 1.2em}
td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left} .plots{display:flex;flex-wrap:wrap;gap:14px}
.plots figure{margin:0} .plots img{max-width:520px;border:1px solid #ddd} .note{color:#666;font-size:.9em}
"""


def _clean(o):
    """JSON-safe copy: NaN -> null, numpy scalars -> Python numbers."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, (str, bytes)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write(path, json.dumps(_clean(obj), indent=1) + "\n")


def fmt(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:.{digits}f}"
    return html.escape(str(v))


def table(header: list[str], rows: Iterable[list], digits: int = 3) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(c, digits)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def img(png: bytes, caption: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{html.escape(caption)}"><figcaption class="note">'
            f"{html.escape(caption)}</figcaption></figure>")


def page(title: str, data_label: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    """A complete HTML page; ``sections``: (heading, inner HTML)."""
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    body = "".join(f"<h2>{html.escape(h)}</h2>{inner}" for h, inner in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='sub'>{html.escape(subtitle)} — irbis {__version__}, {when}</p>"
            f"<div class='data'><b>Data:</b> {html.escape(data_label)}</div>{body}</body></html>")
