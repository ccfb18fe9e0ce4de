"""Parse the text of a camera's info strip (date, time, temperature, camera name, burst index).

Pure text in, fields out: no OCR here (see :mod:`irbis.stages.strip_ocr`). One layout per
camera maker (Reconyx, Bushnell, Browning, Cuddeback) and a generic one; the layout is chosen
from the maker's name printed in the strip or, failing that, the EXIF ``Make``.

Dates like ``07-04-2014`` are ambiguous (MDY or DMY) and ``14-07-04`` even more so; a photo's date
is never guessed on its own. :func:`settle_date_order` picks one order per camera from all of its
photos: the only order under which every date is valid, else the one agreeing with EXIF dates,
else the one giving the shortest span of dates, else the maker's default.

Example
-------
>>> p = parse_strip("2021-04-11 20:43:09 M 1/10 2°C", "MICA 318 RECONYX")
>>> p.layout, p.camera, p.burst_index, p.burst_size, p.temperature_c
('reconyx', 'MICA 318', 1, 10, 2.0)
>>> p.datetime_for(settle_date_order([p]).order)
'2021-04-11T20:43:09'
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime

ORDERS = ("YMD", "MDY", "DMY")

# Words printed by makers (logos, slogans, websites) that are never the camera's name.
BRAND_WORDS = {
    "reconyx": ("RECONYX", "HYPERFIRE", "PROFESSIONAL"),
    "bushnell": ("BUSHNELL",),
    "browning": ("BROWNING",),
    "cuddeback": ("CUDDEBACK", "DIGITAL"),
    "generic": ("DLCCOVERT.COM", "COVERT", "STEALTHCAM", "MOULTRIE", "SPYPOINT", "SCOUTGUARD", "WILDGAME",
                "HCO", "MEIDASE"),
}
# Maker and model words as OCR spells them, split or misread; removed before the camera name is taken.
_MAKER_WORDS_RX = re.compile(
    r"R?[EKB]C[O0U]N[YVTE][XYNA'.]?|RECON[A-Z']?|HYPER\s?F\s?[I1]RE|PROFESS\s?[I1]\s?ONAL|RAPID\s?F[I1]RE|"
    r"CUDD?E\s?BACK\.?|D[I1]G[I1]TAL|BUSHNEL+[I1L]?|BROWN[I1]NG|(?:HCO\s?)?(?:SCO)?UT\s?GUARD|"
    r"[A-Z]{0,3}C\s?[oc0]vert(?:\.com)?|STEALTH\s?CAM|MOULTRIE|SPYPOINT|MEIDASE|TRAIL\s?CAM(?![0-9])", re.I)
# Default date order of each maker's strip, used only when a camera's dates leave it open.
MAKER_DEFAULT_ORDER = {"reconyx": "MDY", "bushnell": "MDY", "browning": "MDY", "cuddeback": "MDY"}

_BRAND_RX = {
    "reconyx": re.compile(r"R?[EK]C[O0U]N[YV]|RECONY|REC[O0]N", re.I),
    "bushnell": re.compile(r"BUSHN|USHNEL", re.I),
    "browning": re.compile(r"BROWN[I1]NG", re.I),
    "cuddeback": re.compile(r"CUDD?E\s?BACK|CUDDE", re.I),
}
_DATE_RXS = (re.compile(r"(?<!\d)(\d{4})\s?([-/.])\s?(\d{1,2})\s?\2\s?(\d{1,2})"),           # year first
             re.compile(r"(?<!\d)(\d{1,2})\s?([-/.])\s?(\d{1,2})\s?\2\s?(\d{4}|\d{2})(?!\d{3})"))  # year last / 2-digit
_TIME_RX = re.compile(r"(?<![\d:])0?(\d{1,2})\s?[:;]\s?(\d{2})(?:\s?[:;]\s?(\d{2}))?(?!\d)"
                      r"(?:\s*([AaPp])\.?\s?[Mm](?![a-z])\.?)?")
_HHMMSS_RX = re.compile(r"(?<!\d)([01]\d|2[0-3])([0-5]\d)([0-5]\d)(?!\d)")   # 151445 right after a date
_TEMP_RX = re.compile(r"(?<![\d.])(-?\s?\d{1,3})\s?(?:°|º|˚|\*|\.|·|o|O)?\s?([CF])(?![A-Za-z])")
_BURST_RX = re.compile(r"(?<![A-Za-z])[MT][\s.]?(\d{1,2})\s?[/7lI|]\s?(\d{1,2})(?!\d)")
_BARE_BURST_RX = re.compile(r"(?<![\d/])(\d{1,2})\s?/\s?(\d{1,2})(?![\d/])")  # Reconyx, its M lost
_DIGITISH = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1"})


@dataclass
class DateToken:
    """The three numbers of a printed date, in printed order, and which orders its shape allows."""

    parts: tuple[int, int, int]
    text: str

    @property
    def shape(self) -> str:
        return "Y--" if self.parts[0] >= 1000 else "--Y" if self.parts[2] >= 1000 else "---"

    def allowed(self) -> tuple[str, ...]:
        return {"Y--": ("YMD",), "--Y": ("MDY", "DMY"), "---": ORDERS}[self.shape]

    def as_date(self, order: str) -> date | None:
        if order not in self.allowed():
            return None
        a, b, c = self.parts
        y, m, d = {"YMD": (a, b, c), "MDY": (c, a, b), "DMY": (c, b, a)}[order]
        if y < 100:
            y += 2000
        if not (1990 <= y <= 2100 and 1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1]):
            return None
        return date(y, m, d)


@dataclass
class ParsedStrip:
    """Fields read from one photo's strip; the date stays a token until the order is settled."""

    raw_text: str
    layout: str | None = None
    date: DateToken | None = None
    time: tuple[int, int, int | None] | None = None   # hour (24 h), minute, second (None: not printed)
    temperature_c: float | None = None
    camera: str | None = None
    burst_index: int | None = None
    burst_size: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.raw_text.strip()

    def datetime_for(self, order: str | None) -> str | None:
        """ISO 8601 without zone (to the minute where the camera prints no seconds)."""
        if self.date is None or self.time is None or order is None:
            return None
        d = self.date.as_date(order)
        if d is None:
            return None
        h, m, s = self.time
        if s is None:
            return f"{d.isoformat()}T{h:02d}:{m:02d}"
        return datetime(d.year, d.month, d.day, h, m, s).isoformat()


@dataclass
class DateOrder:
    order: str | None
    basis: str


def detect_layout(text: str, make: str | None = None) -> str:
    """Maker layout from a logo in the strip, else from the EXIF Make, else 'generic'."""
    for name, rx in _BRAND_RX.items():
        if rx.search(text):
            return name
    for name, rx in _BRAND_RX.items():
        if make and rx.search(make):
            return name
    return "generic"


def normalise(text: str) -> str:
    """Unicode degree signs, full-width characters and digit look-alikes inside numbers."""
    text = (text.replace("℃", "°C").replace("℉", "°F").replace("：", ":").replace("／", "/")
            .replace("－", "-").replace("，", ",").replace("。", "."))

    def fix(m: re.Match) -> str:
        token = m.group(0)
        digits = sum(ch.isdigit() for ch in token)
        return token.translate(_DIGITISH) if digits >= max(2, len(token) // 2) else token
    # Tokens mostly made of digits and separators get look-alike letters turned into digits.
    return re.sub(r"[0-9OolID|][0-9OolID|:/.\-]*[0-9OolID|]", fix, text)


def _parse_date(text: str) -> tuple[DateToken | None, str]:
    for rx in _DATE_RXS:
        for m in rx.finditer(text):
            tok = DateToken((int(m.group(1)), int(m.group(3)), int(m.group(4))), m.group(0))
            if any(tok.as_date(o) for o in tok.allowed()):
                return tok, text[:m.start()] + " " + text[m.end():]
    return None, text


def _parse_time(text: str, after_date: bool = False) -> tuple[tuple[int, int, int | None] | None, str]:
    for m in _TIME_RX.finditer(text):
        h, mi = int(m.group(1)), int(m.group(2))
        s = int(m.group(3)) if m.group(3) else None
        ampm = (m.group(4) or "").upper()
        if ampm:
            if not 1 <= h <= 12:
                continue
            h = h % 12 + (12 if ampm == "P" else 0)
        if h > 23 or mi > 59 or (s is not None and s > 59):
            continue
        return (h, mi, s), text[:m.start()] + " " + text[m.end():]
    m2 = _HHMMSS_RX.search(text)
    if m2 and after_date:
        return (int(m2.group(1)), int(m2.group(2)), int(m2.group(3))), text[:m2.start()] + " " + text[m2.end():]
    return None, text


def _parse_temperature(text: str) -> tuple[float | None, str]:
    found: dict[str, float] = {}
    rest = text
    for m in _TEMP_RX.finditer(text):
        value, unit = float(m.group(1).replace(" ", "")), m.group(2)
        ok = -50 <= value <= 60 if unit == "C" else -58 <= value <= 140
        if ok and unit not in found:
            found[unit] = value
            rest = rest.replace(m.group(0), " ", 1)
    if "C" in found:
        return found["C"], rest
    if "F" in found:
        return round((found["F"] - 32) * 5 / 9, 1), rest
    return None, rest


def _parse_burst(text: str, bare: bool = False) -> tuple[tuple[int, int] | None, str]:
    for m in [*_BURST_RX.finditer(text), *(_BARE_BURST_RX.finditer(text) if bare else ())]:
        i, n = int(m.group(1)), int(m.group(2))
        if 1 <= i <= n <= 99:
            return (i, n), text[:m.start()] + " " + text[m.end():]
    return None, text


def _name_from(text: str, layout: str) -> str | None:
    """What is left once dates, times, temperatures, bursts and maker words are removed."""
    brands = {w for ws in BRAND_WORDS.values() for w in ws}
    words: list[str] = []
    text = re.sub(r"(?<=\d)[Oo]+", lambda m: "0" * len(m.group(0)), _MAKER_WORDS_RX.sub(" ", text))
    for w in re.split(r"[\s|]+", text):
        w = w.strip(".,;:·-_*°")
        if not w.isascii() or (sum(ch.isalnum() for ch in w) < 2 and not (w.isdigit() and words)):
            continue  # icons, moon phases, stray letters (a lone digit after a name is kept: "RIDGE 4")
        if w.upper() in brands or any(rx.search(w) for rx in _BRAND_RX.values()):
            continue
        if re.fullmatch(r"[AaPp]\.?[Mm]\.?", w) or ":" in w:
            continue
        words.append(w)
    if layout == "bushnell" and words and words[0] in ("M", "Ⓜ"):
        words = words[1:]
    return " ".join(words) or None


def parse_strip(top: str, bottom: str, make: str | None = None) -> ParsedStrip:
    """Fields from the OCR text of the top and bottom bands (boxes joined left to right)."""
    top, bottom = normalise(top or ""), normalise(bottom or "")
    raw = " || ".join(t for t in (top.strip(), bottom.strip()) if t)
    p = ParsedStrip(raw_text=raw)
    if p.empty:
        return p
    p.layout = detect_layout(raw, make)
    # Read the band holding the date first: on Reconyx frames the other band holds the name.
    bands = sorted([top, bottom], key=lambda t: not any(rx.search(t) for rx in _DATE_RXS))
    rests = []
    for band in bands:
        rest = band
        if p.date is None:
            p.date, rest = _parse_date(rest)
        if p.time is None:
            p.time, rest = _parse_time(rest, after_date=p.date is not None)
        if p.temperature_c is None:
            p.temperature_c, rest = _parse_temperature(rest)
        if p.burst_index is None:
            burst, rest = _parse_burst(rest, bare=p.layout == "reconyx")
            if burst:
                p.burst_index, p.burst_size = burst
        rests.append(rest)
    if p.layout == "reconyx":
        # Reconyx prints the user's camera label in the bottom band, left of the logo.
        p.camera = _name_from(rests[bands.index(bottom)] if bottom in bands else "", p.layout)
    else:
        p.camera = _name_from(" ".join(rests), p.layout)
    return p


def settle_date_order(strips: list[ParsedStrip], exif_dates: list[date | None] | None = None,
                      layout: str | None = None) -> DateOrder:
    """One date order for all photos of one camera, decided from all of them together.

    ``exif_dates``: the photos' EXIF dates (None where missing), same order as ``strips``.
    """
    exif_dates = exif_dates or [None] * len(strips)
    toks = [(s.date, e) for s, e in zip(strips, exif_dates, strict=False) if s.date is not None]
    if not toks:
        return DateOrder(None, "no date read")
    candidates = [o for o in ORDERS if any(o in t.allowed() for t, _ in toks)]
    valid = {o: sum(t.as_date(o) is not None for t, _ in toks) for o in candidates}
    best = max(valid.values())
    if best == 0:
        return DateOrder(None, "no valid date under any order")
    candidates = [o for o in candidates if valid[o] == best]
    if len(candidates) == 1:
        return DateOrder(candidates[0], "only order valid for every date" if best == len(toks)
                         else f"order valid for most dates ({best}/{len(toks)})")
    agree = {o: sum(e is not None and t.as_date(o) == e for t, e in toks) for o in candidates}
    if max(agree.values()) > 0:
        top = max(agree.values())
        winners = [o for o in candidates if agree[o] == top]
        if len(winners) == 1:
            return DateOrder(winners[0], f"agrees with EXIF dates ({top}/{len(toks)})")
        candidates = winners
    spans: dict[str, int] = {}
    for o in candidates:
        ds = [d for d in (t.as_date(o) for t, _ in toks) if d is not None]
        spans[o] = (max(ds) - min(ds)).days
    if len(set(spans.values())) > 1:
        o = min(spans, key=lambda k: spans[k])
        return DateOrder(o, f"shortest span of dates ({spans[o]} days)")
    maker = MAKER_DEFAULT_ORDER.get(layout or "")
    if maker in candidates:
        return DateOrder(maker, f"{layout} default ({maker}); dates fit {'/'.join(candidates)}")
    return DateOrder(None, f"ambiguous date order: {' or '.join(candidates)}")
