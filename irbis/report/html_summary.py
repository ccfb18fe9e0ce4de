"""A self-contained HTML page of predictions with thumbnails (no external files)."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from ..imageio import ImageReadError, open_image

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
table.metrics td,table.metrics th{padding:.2em .8em;text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.card{width:180px;border:3px solid #ccc;border-radius:6px;padding:4px;font-size:12px}
.card.ok{border-color:#2a9d4b} .card.bad{border-color:#d62828} .card.fail{border-color:#999;background:#eee}
.card img{width:172px;display:block}
.thumb{position:relative;width:172px}
.box{position:absolute;border:2px solid #ffd60a;box-sizing:border-box}
.box span{position:absolute;top:-15px;left:-2px;background:#ffd60a;color:#000;font-size:10px;padding:0 2px;
white-space:nowrap}
.bar{height:6px;background:#2a9d4b} h2{margin-top:1.5em}
"""


def thumbnail_data_uri(path: str | os.PathLike, size: int = 240, blur: list | None = None) -> str | None:
    """``blur``: normalised [x, y, w, h] boxes (people) blurred beyond recognition first."""
    try:
        im = open_image(path, min_short_side=size)
    except ImageReadError:
        return None
    if blur:
        from ..privacy import blur_boxes
        im = blur_boxes(im, blur)
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def write_summary(out: str | os.PathLike, title: str, subtitle: str, metrics: list[tuple[str, str]],
                  groups: dict[str, list[dict]]) -> Path:
    """groups: heading -> cards with keys path, file, predicted, confidence, truth, failure, extra,
    and optionally boxes: [(normalised [x, y, w, h], label), ...] drawn over the thumbnail, and
    blur: normalised boxes blurred in the thumbnail (people, ``--blur-people``)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
             f"<p class='sub'>{html.escape(subtitle)}</p><table class='metrics'>"]
    parts += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in metrics]
    parts.append("</table>")
    for heading, cards in groups.items():
        parts.append(f"<h2>{html.escape(heading)}</h2><div class='grid'>")
        for c in cards:
            uri = thumbnail_data_uri(c["path"], blur=c.get("blur"))
            if c.get("failure"):
                cls, text = "fail", f"failed: {c['failure']}"
            else:
                cls = "ok" if c.get("truth") in (None, c["predicted"]) else "bad"
                text = f"<b>{html.escape(c['predicted'])}</b> {float(c['confidence']):.2f}"
                if c.get("truth") not in (None, c["predicted"]):
                    text += f" (truth: {html.escape(c['truth'])})"
            boxes = "".join(
                f"<div class='box' style='left:{b[0] * 100:.1f}%;top:{b[1] * 100:.1f}%;width:{b[2] * 100:.1f}%;"
                f"height:{b[3] * 100:.1f}%'><span>{html.escape(label)}</span></div>"
                for b, label in c.get("boxes", []))
            img = (f"<div class='thumb'><img src='{uri}' alt=''>{boxes}</div>" if uri
                   else "<div style='height:129px'></div>")
            conf = 0 if c.get("failure") else float(c["confidence"])
            parts.append(f"<div class='card {cls}'>{img}<div class='bar' style='width:{conf * 100:.0f}%'></div>"
                         f"<div>{html.escape(c['file'])}</div><div>{text}</div>"
                         f"<div>{html.escape(c.get('extra', ''))}</div></div>")
        parts.append("</div>")
    parts.append("</body></html>")
    out = Path(out)
    out.write_text("".join(parts), encoding="utf-8")
    return out
