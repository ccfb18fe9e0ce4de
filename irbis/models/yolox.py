"""YOLOX-tiny in plain torch (no torchvision, no yolox package), for MegadetectorLite weights.

Architecture after YOLOX (Megvii, Apache-2.0; Ge et al. 2021): CSPDarknet backbone with a
Focus stem, YOLOPAFPN neck and the decoupled YOLOXHead, SiLU activations, BatchNorm eps 1e-3 /
momentum 0.03 (as ``yolox.exp`` sets them). Parameter names follow the yolox package, so the
MegadetectorLite checkpoint shipped in DrivenData's ``zamba`` wheel
(``zamba/object_detection/yolox/assets/yolox_tiny_640_20220528.pth``, one class "animal")
loads with ``strict=True``. The wheel is located through its package metadata: zamba itself is
never imported (its dependencies are not installed).

``YOLOX.forward`` returns decoded predictions ``(N, A, 6)``: centre x, centre y, width, height
(input pixels), objectness, class probability. :func:`nms` is a small pure-torch NMS.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
from torch import nn

WEIGHTS_DIST = "zamba"
WEIGHTS_FILE = "zamba/object_detection/yolox/assets/yolox_tiny_640_20220528.pth"
STRIDES = (8, 16, 32)


class BaseConv(nn.Module):
    """Conv2d + BatchNorm + SiLU, 'same' padding."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, shortcut: bool = True, expansion: float = 0.5):
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = BaseConv(cin, hidden, 1)
        self.conv2 = BaseConv(hidden, cout, 3)
        self.use_add = shortcut and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.use_add else y


class CSPLayer(nn.Module):
    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True):
        super().__init__()
        hidden = int(cout * 0.5)
        self.conv1 = BaseConv(cin, hidden, 1)
        self.conv2 = BaseConv(cin, hidden, 1)
        self.conv3 = BaseConv(2 * hidden, cout, 1)
        self.m = nn.Sequential(*[Bottleneck(hidden, hidden, shortcut, 1.0) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat((self.m(self.conv1(x)), self.conv2(x)), dim=1))


class SPPBottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, kernels: tuple[int, ...] = (5, 9, 13)):
        super().__init__()
        hidden = cin // 2
        self.conv1 = BaseConv(cin, hidden, 1)
        self.m = nn.ModuleList([nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernels])
        self.conv2 = BaseConv(hidden * (len(kernels) + 1), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [m(x) for m in self.m], dim=1))


class Focus(nn.Module):
    """Space-to-depth (4 pixel phases stacked on channels), then a conv."""

    def __init__(self, cin: int, cout: int, k: int = 1):
        super().__init__()
        self.conv = BaseConv(cin * 4, cout, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2],
                                    x[..., ::2, 1::2], x[..., 1::2, 1::2]), dim=1))


class CSPDarknet(nn.Module):
    def __init__(self, depth: float, width: float):
        super().__init__()
        c, d = int(width * 64), max(round(depth * 3), 1)
        self.stem = Focus(3, c, 3)
        self.dark2 = nn.Sequential(BaseConv(c, 2 * c, 3, 2), CSPLayer(2 * c, 2 * c, d))
        self.dark3 = nn.Sequential(BaseConv(2 * c, 4 * c, 3, 2), CSPLayer(4 * c, 4 * c, 3 * d))
        self.dark4 = nn.Sequential(BaseConv(4 * c, 8 * c, 3, 2), CSPLayer(8 * c, 8 * c, 3 * d))
        self.dark5 = nn.Sequential(BaseConv(8 * c, 16 * c, 3, 2), SPPBottleneck(16 * c, 16 * c),
                                   CSPLayer(16 * c, 16 * c, d, shortcut=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x3 = self.dark3(self.dark2(self.stem(x)))
        x4 = self.dark4(x3)
        return x3, x4, self.dark5(x4)


class YOLOPAFPN(nn.Module):
    def __init__(self, depth: float, width: float):
        super().__init__()
        c0, c1, c2 = int(256 * width), int(512 * width), int(1024 * width)
        n = round(3 * depth)
        self.backbone = CSPDarknet(depth, width)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = BaseConv(c2, c1, 1)
        self.C3_p4 = CSPLayer(2 * c1, c1, n, False)
        self.reduce_conv1 = BaseConv(c1, c0, 1)
        self.C3_p3 = CSPLayer(2 * c0, c0, n, False)
        self.bu_conv2 = BaseConv(c0, c0, 3, 2)
        self.C3_n3 = CSPLayer(2 * c0, c1, n, False)
        self.bu_conv1 = BaseConv(c1, c1, 3, 2)
        self.C3_n4 = CSPLayer(2 * c1, c2, n, False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x2, x1, x0 = self.backbone(x)
        fpn_out0 = self.lateral_conv0(x0)
        f_out0 = self.C3_p4(torch.cat([self.upsample(fpn_out0), x1], 1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.C3_p3(torch.cat([self.upsample(fpn_out1), x2], 1))
        pan_out1 = self.C3_n3(torch.cat([self.bu_conv2(pan_out2), fpn_out1], 1))
        pan_out0 = self.C3_n4(torch.cat([self.bu_conv1(pan_out1), fpn_out0], 1))
        return pan_out2, pan_out1, pan_out0


class YOLOXHead(nn.Module):
    def __init__(self, num_classes: int, width: float):
        super().__init__()
        hid = int(256 * width)
        ins = [int(c * width) for c in (256, 512, 1024)]
        self.stems = nn.ModuleList([BaseConv(c, hid, 1) for c in ins])
        self.cls_convs = nn.ModuleList([nn.Sequential(BaseConv(hid, hid, 3), BaseConv(hid, hid, 3)) for _ in ins])
        self.reg_convs = nn.ModuleList([nn.Sequential(BaseConv(hid, hid, 3), BaseConv(hid, hid, 3)) for _ in ins])
        self.cls_preds = nn.ModuleList([nn.Conv2d(hid, num_classes, 1) for _ in ins])
        self.reg_preds = nn.ModuleList([nn.Conv2d(hid, 4, 1) for _ in ins])
        self.obj_preds = nn.ModuleList([nn.Conv2d(hid, 1, 1) for _ in ins])

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        outs, grids, strides = [], [], []
        for k, (x, stride) in enumerate(zip(feats, STRIDES)):
            x = self.stems[k](x)
            reg = self.reg_convs[k](x)
            out = torch.cat([self.reg_preds[k](reg), self.obj_preds[k](reg).sigmoid(),
                             self.cls_preds[k](self.cls_convs[k](x)).sigmoid()], 1)
            h, w = out.shape[-2:]
            yv, xv = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grids.append(torch.stack((xv, yv), 2).reshape(1, -1, 2).to(out.dtype))
            strides.append(torch.full((1, h * w, 1), float(stride), dtype=out.dtype))
            outs.append(out.flatten(start_dim=2))
        out = torch.cat(outs, dim=2).permute(0, 2, 1)
        grid, stride = torch.cat(grids, 1), torch.cat(strides, 1)
        xy = (out[..., :2] + grid) * stride
        wh = torch.exp(out[..., 2:4]) * stride
        return torch.cat([xy, wh, out[..., 4:]], dim=-1)


class YOLOX(nn.Module):
    """YOLOX detector; the defaults are YOLOX-tiny with one class (MegadetectorLite)."""

    def __init__(self, num_classes: int = 1, depth: float = 0.33, width: float = 0.375):
        super().__init__()
        self.backbone = YOLOPAFPN(depth, width)
        self.head = YOLOXHead(num_classes, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float, 0-255 RGB -> (N, A, 5 + classes): cx, cy, w, h, obj, cls..."""
        return self.head(self.backbone(x))


def megadetector_lite_weights() -> Path:
    """Path of the MegadetectorLite checkpoint inside the installed ``zamba`` distribution."""
    try:
        dist = importlib.metadata.distribution(WEIGHTS_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            "the animal detector needs DrivenData's MegadetectorLite weights: "
            "pip install --no-deps zamba==2.7.2") from exc
    path = Path(str(dist.locate_file(WEIGHTS_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"zamba {dist.version} is installed but {WEIGHTS_FILE} is missing")
    return path


def load_megadetector_lite(path: str | Path | None = None) -> YOLOX:
    """YOLOX-tiny with the MegadetectorLite weights loaded strictly (eval mode)."""
    path = Path(path) if path else megadetector_lite_weights()
    # The checkpoint also holds the optimizer state (plain tensors and numbers).
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    sd = ckpt["model"] if isinstance(ckpt, dict) and "model" in ckpt else ckpt
    model = YOLOX(num_classes=sd["head.cls_preds.0.weight"].shape[0])
    model.load_state_dict(sd, strict=True)
    return model.eval()


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float) -> torch.Tensor:
    """Greedy non-maximum suppression; boxes (K, 4) x1 y1 x2 y2. Returns kept indices, best first."""
    order = scores.argsort(descending=True)
    boxes = boxes[order]
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    overlap = inter / (area[:, None] + area[None, :] - inter).clamp(min=1e-9)
    keep = torch.ones(len(order), dtype=torch.bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1:] &= overlap[i, i + 1:] <= iou
    return order[keep]
