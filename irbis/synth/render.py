"""Pixels of a camera-trap-like burst: fixed background, moving cut-out, light, noise, IR, info strip.

Work is in float32 on the whole frame with few passes (about 20 ms a 1024x768 frame on one core,
JPEG encoding included), so a thousand frames take well under a minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ..ingest.metadata import (
    EXIF_IFD,
    TAG_BODY_SERIAL,
    TAG_DATETIME,
    TAG_DATETIME_DIGITIZED,
    TAG_DATETIME_ORIGINAL,
    TAG_MAKE,
    TAG_MODEL,
)
from .kit import Cutout
from .plan import BurstPlan, CameraPlan

PAD = 3                      # background margin for the per-frame camera jitter
STRIP_SHARE = 0.04           # info strip height / frame height
MAKE, MODEL, SOFTWARE = "irbis-synth", "ProxyTrap P1", "irbis synth"
TAG_SOFTWARE = 305
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
Box = tuple[int, int, int, int]          # x, y, w, h in pixels


@dataclass
class CameraState:
    """Per camera, computed once: padded background, IR vignette and noise field."""

    plan: CameraPlan
    background: np.ndarray   # float32 (H + 2 PAD, W + 2 PAD, 3)
    mean: np.ndarray         # float32 (3,): the background's mean colour
    vignette: np.ndarray     # float32 (H, W): IR flash falloff
    noise: np.ndarray        # float32 (H + 32, W + 32, 3), standard normal


@dataclass(frozen=True)
class Frame:
    image: Image.Image       # RGB, info strip drawn
    box: Box | None          # the visible animal, clipped to the frame above the strip
    time: datetime


def strip_height(height: int) -> int:
    return max(8, round(STRIP_SHARE * height))


def prepare_camera(cam: CameraPlan, width: int, height: int, seed: int) -> CameraState:
    """Crop the camera's scene to the frame (cover, zoomed, maybe mirrored) and its fixed fields."""
    rng = np.random.default_rng([seed, 7919, cam.index])
    with Image.open(cam.scene) as im:
        scene = im.convert("RGB")
    tw, th = width + 2 * PAD, height + 2 * PAD
    sw, sh = scene.size
    scale = max(tw / sw, th / sh) * cam.zoom
    cw, ch = tw / scale, th / scale
    left = (sw - cw) * cam.centre[0]
    top = (sh - ch) * cam.centre[1]
    scene = scene.resize((tw, th), Image.Resampling.BICUBIC, box=(left, top, left + cw, top + ch))
    if cam.flip:
        scene = scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    bg = np.asarray(scene, dtype=np.float32) * np.asarray(cam.white_balance, dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * rng.uniform(0.4, 0.6), height * rng.uniform(0.5, 0.75)
    r2 = ((xx - cx) / (0.75 * width)) ** 2 + ((yy - cy) / (0.75 * height)) ** 2
    vignette = np.clip(1.15 - 0.9 * r2, 0.25, 1.15).astype(np.float32)
    noise = rng.standard_normal((height + 32, width + 32, 3), dtype=np.float32)
    return CameraState(cam, bg, bg.reshape(-1, 3).mean(axis=0, dtype=np.float64).astype(np.float32),
                       vignette, noise)


def _day_light(hour: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Per-channel gain and contrast for a daylight hour: dim and warm at dawn and dusk."""
    sun = max(0.0, math.sin(math.pi * (hour - 6.0) / 14.0))
    gain = float(np.clip(0.5 + 0.55 * sun + rng.normal(0, 0.07), 0.35, 1.2))
    warm = 0.12 * (1 - sun) + rng.normal(0, 0.02)
    tint = np.array([1 + warm, 1.0, 1 - warm], dtype=np.float32)
    return gain * tint, float(rng.uniform(0.8, 1.08))


def _motion(rng: np.random.Generator, cut: Cutout, n: int, width: int, height: int, vis_h: int,
            flying: bool) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of the cut-out per frame: a size, a start, a walk across; mostly in frame."""
    ch, cw = cut.rgba.shape[:2]
    aspect = cw / ch
    for _ in range(40):
        rel = math.exp(rng.uniform(math.log(0.05), math.log(0.40)))        # height share of the frame
        h0 = rel * height
        h0 = min(h0, 0.9 * width / aspect)
        w0 = h0 * aspect
        if flying:
            bottom = rng.uniform(0.15, 0.95) * vis_h
        else:   # perspective: big animals near the camera stand lower in the frame
            bottom = (0.5 + 0.55 * (rel - 0.05) / 0.35 + rng.normal(0, 0.08)) * vis_h
        x0 = rng.uniform(-0.35 * w0, width - 0.65 * w0)
        speed = rng.uniform(0.01, 0.12) * width * (1 if rng.random() < 0.5 else -1)
        vy = rng.normal(0, 0.01) * height
        growth = rng.uniform(-0.06, 0.06)
        rects = []
        for f in range(n):
            s = 1 + growth * f
            w, h = max(4, round(w0 * s)), max(4, round(h0 * s))
            cx = x0 + w0 / 2 + speed * f
            rects.append((round(cx - w / 2), round(bottom + vy * f - h), w, h))
        if all(_visible_share(r, width, vis_h) >= 0.45 for r in rects):
            return rects
    w, h = max(4, round(w0)), max(4, round(h0))   # fall back: still, centred
    return [(round((width - w) / 2), round(vis_h - h - 0.05 * vis_h), w, h)] * n


def _visible_share(rect: tuple[int, int, int, int], width: int, vis_h: int) -> float:
    x, y, w, h = rect
    vw = max(0, min(x + w, width) - max(x, 0))
    vh = max(0, min(y + h, vis_h) - max(y, 0))
    return vw * vh / float(w * h)


def _cutout_pixels(cut: Cutout, w: int, h: int, flip: bool, shade: float) -> tuple[np.ndarray, np.ndarray]:
    """Resized cut-out as float RGB (shaded) and alpha in [0, 1] with softened edges."""
    im = Image.fromarray(cut.rgba, "RGBA").resize((w, h), Image.Resampling.BICUBIC)
    if flip:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    alpha = im.getchannel("A").filter(ImageFilter.GaussianBlur(0.6))
    rgb = np.asarray(im.convert("RGB"), dtype=np.float32) * shade
    return rgb, np.asarray(alpha, dtype=np.float32) / 255.0


def _paste(img: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int, vis_h: int,
           shadow: float) -> Box | None:
    """Blend the cut-out (and a soft ground shadow) into ``img`` in place; its visible box."""
    H, W = img.shape[:2]
    h, w = alpha.shape
    if shadow > 0:   # a dark ellipse under the feet
        sh_h = max(2, int(0.14 * h))
        sy0, sy1 = max(0, y + h - sh_h // 2), min(H, y + h + sh_h // 2)
        sx0, sx1 = max(0, x - w // 10), min(W, x + w + w // 10)
        if sy1 > sy0 and sx1 > sx0:
            yy, xx = np.mgrid[sy0:sy1, sx0:sx1].astype(np.float32)
            d = ((xx - (x + w / 2)) / (0.6 * w)) ** 2 + ((yy - (y + h)) / (sh_h / 2)) ** 2
            img[sy0:sy1, sx0:sx1] *= (1 - shadow * np.clip(1 - d, 0, 1))[..., None]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return None
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x]
    roi = img[y0:y1, x0:x1]
    roi += a[..., None] * (rgb[y0 - y:y1 - y, x0 - x:x1 - x] - roi)
    seen = a[: max(0, min(y1, vis_h) - y0)] > 0.3
    if not seen.any():
        return None
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    return (x0 + int(cols[0]), y0 + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


_FONTS: dict[int, ImageFont.ImageFont | ImageFont.FreeTypeFont] = {}


def _font(size: int):
    if size not in _FONTS:
        try:
            _FONTS[size] = ImageFont.load_default(size=size)
        except (TypeError, AttributeError, OSError):   # Pillow < 10.1 or no FreeType
            _FONTS[size] = ImageFont.load_default()
    return _FONTS[size]


def draw_info_strip(im: Image.Image, camera: str, when: datetime, temp_c: int, frame: int, n: int) -> None:
    """The black bar real traps print: camera, temperature, date and time, frame i/n."""
    W, H = im.size
    bar = strip_height(H)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, H - bar, W, H), fill=(0, 0, 0))
    font = _font(max(8, int(bar * 0.62)))
    margin = max(4, W // 100)
    parts = ((f"{camera}   {temp_c}°C", 0.0, margin), (when.strftime("%Y-%m-%d  %H:%M:%S"), 0.5, 0),
             (f"{frame}/{n}", 1.0, -margin))
    for text, where, shift in parts:   # placed by hand: bitmap fallback fonts take no anchor
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        x = where * (W - (right - left)) + shift - left
        y = H - bar + (bar - (bottom - top)) / 2 - top
        draw.text((round(x), round(y)), text, fill=(255, 255, 255), font=font)

def exif_bytes(when: datetime, serial: str) -> bytes:
    """EXIF with DateTimeOriginal (and Digitized, DateTime), Make, Model, Software, body serial."""
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif = Image.Exif()
    exif[TAG_MAKE], exif[TAG_MODEL], exif[TAG_SOFTWARE], exif[TAG_DATETIME] = MAKE, MODEL, SOFTWARE, stamp
    sub = exif.get_ifd(EXIF_IFD)
    sub[TAG_DATETIME_ORIGINAL] = stamp
    sub[TAG_DATETIME_DIGITIZED] = stamp
    sub[TAG_BODY_SERIAL] = serial
    return exif.tobytes()


def render_burst(cam: CameraState, burst: BurstPlan, cut: Cutout | None, seed: int) -> list[Frame]:
    """The frames of one burst, drawn from a generator seeded with (seed, camera, burst)."""
    rng = np.random.default_rng([seed, burst.camera_index, burst.index])
    bg = cam.background
    H, W = bg.shape[0] - 2 * PAD, bg.shape[1] - 2 * PAD
    vis_h = H - strip_height(H)
    n = burst.n_frames
    hour = burst.start.hour + burst.start.minute / 60
    if burst.night:
        ir_gain = float(rng.uniform(0.7, 1.15))
        sigma = float(rng.uniform(7.0, 13.0))
        blur = float(rng.uniform(0.6, 1.3))
    else:
        channel_gain, contrast = _day_light(hour, rng)
        sigma = float(rng.uniform(1.5, 4.0))

    rects = None
    if cut is not None:
        flying = burst.label == "bird" and rng.random() < 0.3
        rects = _motion(rng, cut, n, W, H, vis_h, flying)
        flip = bool(rng.random() < 0.5)
        shade = float(rng.uniform(0.7, 1.0)) * (1.25 if burst.night else 1.0)   # fur is bright in IR
        shadow = 0.0 if flying or burst.night else float(rng.uniform(0.1, 0.4))

    frames = []
    for f, when in enumerate(burst.frame_times()):
        dx, dy = (int(v) for v in np.clip(np.rint(rng.normal(0, 0.8, size=2)), -PAD + 1, PAD - 1))
        sub = float(rng.uniform(0, 1))            # a sub-pixel shift: blend with the next column
        ox, oy = PAD + dx, PAD + dy
        img = bg[oy:oy + H, ox:ox + W] * (1 - sub)
        img += bg[oy:oy + H, ox + 1:ox + 1 + W] * sub
        box = None
        if rects is not None and cut is not None:
            x, y, w, h = rects[f]
            rgb, alpha = _cutout_pixels(cut, w, h, flip, shade)
            box = _paste(img, rgb, alpha, x, y, vis_h, shadow)
        flicker = float(1 + rng.normal(0, 0.015))
        nx, ny = (int(v) for v in rng.integers(0, 32, size=2))
        noise = cam.noise[ny:ny + H, nx:nx + W]
        if burst.night:
            lum = img @ LUMA
            mean = float(cam.mean @ LUMA)
            lum -= mean
            lum *= 0.85
            lum += mean * 0.8
            lum *= cam.vignette * (ir_gain * flicker)
            lum += noise[..., 0] * sigma
            gray = Image.fromarray(np.clip(lum, 0, 255, out=lum).astype(np.uint8), "L")
            im = gray.filter(ImageFilter.GaussianBlur(blur)).convert("RGB")
        else:
            img *= channel_gain * (contrast * flicker)
            img += channel_gain * (flicker * (1 - contrast)) * cam.mean
            img += noise * sigma
            im = Image.fromarray(np.clip(img, 0, 255, out=img).astype(np.uint8), "RGB")
        draw_info_strip(im, burst.camera, when, burst.temperature_c, f + 1, n)
        frames.append(Frame(im, box, when))
    return frames
