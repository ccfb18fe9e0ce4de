"""What to build, decided up front from the seed: cameras, splits, burst times and contents.

Planning draws from one generator seeded with ``config.seed``; each burst's pixels are drawn
later from their own generator seeded with (seed, camera, burst), so the output is the same for a
seed whatever order the bursts are rendered in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from .kit import Kit

SLOT_S = 600                 # one burst at most per 10-minute slot of a camera's timeline
NIGHT_HOURS = (20, 6)        # night from 20:00 to 05:59
MAX_BURST_FRAMES = 30


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of a proxy data set; everything is deterministic for ``seed``."""

    seed: int = 0
    cameras: int = 12
    bursts_per_camera: int = 40
    burst_frames: int = 3
    empty_fraction: float = 0.75
    night_fraction: float = 0.3
    classes: tuple[str, ...] | None = None      # None: kit.DEFAULT_CLASSES
    width: int = 1024
    height: int = 768
    days: int = 30
    start: str = "2023-06-01"
    test_fraction: float = 1 / 3                 # share of cameras held out for the test split
    quality: int = 90

    def validate(self) -> None:
        """Raise ValueError naming the first bad parameter."""
        checks = [
            (self.cameras >= 1, "cameras must be at least 1"),
            (self.bursts_per_camera >= 1, "bursts per camera must be at least 1"),
            (1 <= self.burst_frames <= MAX_BURST_FRAMES, f"burst frames must be 1..{MAX_BURST_FRAMES}"),
            (0.0 <= self.empty_fraction <= 1.0, "empty fraction must be in [0, 1]"),
            (0.0 <= self.night_fraction <= 1.0, "night fraction must be in [0, 1]"),
            (64 <= self.width <= 8192 and 64 <= self.height <= 8192, "frame size must be 64..8192 a side"),
            (self.days >= 1, "days must be at least 1"),
            (0.0 <= self.test_fraction < 1.0, "test fraction must be in [0, 1)"),
            (1 <= self.quality <= 100, "JPEG quality must be 1..100"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(why)
        try:
            datetime.strptime(self.start, "%Y-%m-%d")
        except ValueError:
            raise ValueError(f"start date {self.start!r}: expected YYYY-MM-DD") from None
        night_slots = self.days * 3600 * (24 - NIGHT_HOURS[0] + NIGHT_HOURS[1]) // SLOT_S
        day_slots = self.days * 86400 // SLOT_S - night_slots
        n_night = round(self.night_fraction * self.bursts_per_camera)
        if n_night > night_slots or self.bursts_per_camera - n_night > day_slots:
            raise ValueError(f"{self.bursts_per_camera} bursts per camera do not fit in {self.days} day(s) "
                             f"with one burst per {SLOT_S // 60} minutes at most; raise --days")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["classes"] = list(self.classes) if self.classes is not None else None
        return d


@dataclass(frozen=True)
class CameraPlan:
    id: str                   # deployment / location, e.g. CAM01
    index: int                # 0-based
    scene: Path
    split: str                # train | test
    zoom: float               # crop of the scene: 1 = widest cover crop
    centre: tuple[float, float]
    flip: bool
    white_balance: tuple[float, float, float]
    base_temp_c: float
    serial: str


@dataclass(frozen=True)
class BurstPlan:
    seq_id: str               # e.g. CAM01_0007; also the file name stem
    camera: str
    camera_index: int
    index: int                # 1-based, chronological within the camera
    start: datetime
    night: bool
    label: str                # "empty" or a class name
    cutout: int | None        # index into kit.classes[label]
    temperature_c: int
    n_frames: int

    def frame_times(self) -> list[datetime]:
        return [self.start + timedelta(seconds=i) for i in range(self.n_frames)]


@dataclass
class Plan:
    config: SynthConfig
    cameras: list[CameraPlan]
    bursts: list[BurstPlan] = field(default_factory=list)   # by camera, then time

    def by_camera(self, camera: str) -> list[BurstPlan]:
        return [b for b in self.bursts if b.camera == camera]


def _is_night(hour: int) -> bool:
    return hour >= NIGHT_HOURS[0] or hour < NIGHT_HOURS[1]


def _plan_cameras(kit: Kit, config: SynthConfig, rng: np.random.Generator) -> list[CameraPlan]:
    n = config.cameras
    if n > len(kit.scenes):
        raise ValueError(f"{n} cameras need {n} distinct background scenes; the kit has {len(kit.scenes)}")
    pool = max(n, kit.landscape)
    scenes = [kit.scenes[i] for i in sorted(rng.choice(pool, size=n, replace=False))]
    order = rng.permutation(n)
    n_test = 0 if n == 1 else min(n - 1, max(1, round(n * config.test_fraction)))
    test = set(order[:n_test].tolist()) if config.test_fraction > 0 else set()
    cams = []
    for i, scene in enumerate(scenes):
        wb = 1.0 + rng.normal(0.0, 0.03, size=3)
        cams.append(CameraPlan(
            id=f"CAM{i + 1:02d}", index=i, scene=scene, split="test" if i in test else "train",
            zoom=float(rng.uniform(1.0, 1.3)),
            centre=(float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.35, 0.65))),
            flip=bool(rng.random() < 0.5), white_balance=(float(wb[0]), float(wb[1]), float(wb[2])),
            base_temp_c=float(rng.uniform(2.0, 24.0)),
            serial=f"SYN{config.seed % 100000:05d}{i + 1:02d}"))
    return cams


def _balanced_labels(classes: list[str], n_animal: int, rng: np.random.Generator) -> list[str]:
    """n_animal class names, as even as possible over the classes, in random order."""
    reps = math.ceil(n_animal / len(classes)) if classes else 0
    pool = [c for _ in range(reps) for c in rng.permutation(classes).tolist()][:n_animal]
    return [pool[i] for i in rng.permutation(len(pool))]


def make_plan(kit: Kit, config: SynthConfig) -> Plan:
    """Decide every camera and burst of the data set (no pixels yet)."""
    config.validate()
    rng = np.random.default_rng(config.seed)
    cams = _plan_cameras(kit, config, rng)
    classes = list(kit.classes)
    t0 = datetime.strptime(config.start, "%Y-%m-%d")
    slots = np.arange(config.days * 86400 // SLOT_S)
    night_slot = np.array([_is_night(int(s * SLOT_S // 3600) % 24) for s in slots])
    n_b = config.bursts_per_camera
    n_night = round(config.night_fraction * n_b)

    # Contents per split: an exact empty share, animal bursts spread evenly over the classes.
    contents: dict[str, list[str]] = {}
    for split in ("train", "test"):
        total = n_b * sum(c.split == split for c in cams)
        n_empty = round(config.empty_fraction * total)
        labels = ["empty"] * n_empty + _balanced_labels(classes, total - n_empty, rng)
        contents[split] = [labels[i] for i in rng.permutation(total)]

    plan = Plan(config, cams)
    for cam in cams:
        chosen = np.concatenate([rng.choice(slots[night_slot], size=n_night, replace=False),
                                 rng.choice(slots[~night_slot], size=n_b - n_night, replace=False)])
        # a burst starts within the first 8 minutes of its slot: bursts are > 60 s apart
        starts = sorted(int(s) * SLOT_S + int(rng.integers(0, SLOT_S - 120)) for s in chosen)
        labels = [contents[cam.split].pop() for _ in range(n_b)]
        for k, sec in enumerate(starts, start=1):
            start = t0 + timedelta(seconds=sec)
            label = labels[k - 1]
            cutout = None if label == "empty" else int(rng.integers(len(kit.classes[label])))
            hour = start.hour + start.minute / 60
            temp = cam.base_temp_c + 7.0 * math.sin(2 * math.pi * (hour - 9.0) / 24) + rng.normal(0, 1.5)
            plan.bursts.append(BurstPlan(
                seq_id=f"{cam.id}_{k:04d}", camera=cam.id, camera_index=cam.index, index=k, start=start,
                night=_is_night(start.hour), label=label, cutout=cutout, temperature_c=round(temp),
                n_frames=config.burst_frames))
    return plan
