"""The two plate networks, in PyTorch (training only; the server runs their ONNX exports)."""

from __future__ import annotations

import torch
from torch import nn

from anpr.contract import DETECTOR, NUM_CLASSES

DETECTOR_STRIDE = 8
WIDTH_UNIT = 32.0  # box width = exp(raw) * WIDTH_UNIT pixels: raw ~ 0 for a typical plate
HEIGHT_UNIT = 8.0


def conv_bn(
    cin: int, cout: int, stride: int = 1, kernel: int | tuple[int, int] = 3, padding: int | tuple[int, int] = 1
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class PlateDetector(nn.Module):
    """Anchor-free single-scale detector (CenterNet-like) with a small feature pyramid.

    Output cells sit on a stride-8 grid of the 384x640 input; each predicts a plate-centre
    probability and the box of the plate whose centre is near it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(1, 16, 2), conv_bn(16, 32, 2))
        self.stage8 = nn.Sequential(conv_bn(32, 48, 2), conv_bn(48, 48))
        self.stage16 = nn.Sequential(conv_bn(48, 96, 2), conv_bn(96, 96), conv_bn(96, 96))
        self.stage32 = nn.Sequential(conv_bn(96, 128, 2), conv_bn(128, 128))
        self.lateral32 = nn.Conv2d(128, 48, 1)
        self.lateral16 = nn.Conv2d(96, 48, 1)
        self.head = nn.Sequential(conv_bn(48, 48), nn.Conv2d(48, 5, 1))
        nn.init.constant_(self.head[1].bias, 0.0)
        with torch.no_grad():
            self.head[1].bias[0] = -4.0  # start with few positives, as focal-loss detectors do

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, 1, 384, 640) in [0, 1]; returns raw maps (N, 5, 48, 80)."""
        x = (images - 0.5) / 0.25
        f8 = self.stage8(self.stem(x))
        f16 = self.stage16(f8)
        f32 = self.stage32(f16)
        p16 = self.lateral16(f16) + nn.functional.interpolate(self.lateral32(f32), scale_factor=2.0, mode="nearest")
        p8 = f8 + nn.functional.interpolate(p16, scale_factor=2.0, mode="nearest")
        return self.head(p8)


def decode_detector_maps(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw maps to (boxes (N, K, 4) x1y1x2y2 in input pixels, scores (N, K)); K = cells."""
    n, _, gh, gw = raw.shape
    gy, gx = torch.meshgrid(torch.arange(gh, dtype=raw.dtype), torch.arange(gw, dtype=raw.dtype), indexing="ij")
    scores = torch.sigmoid(raw[:, 0])
    cx = (gx + 4 * torch.sigmoid(raw[:, 1]) - 1.5) * DETECTOR_STRIDE
    cy = (gy + 4 * torch.sigmoid(raw[:, 2]) - 1.5) * DETECTOR_STRIDE
    w = torch.exp(raw[:, 3].clamp(-6, 4)) * WIDTH_UNIT
    h = torch.exp(raw[:, 4].clamp(-6, 4)) * HEIGHT_UNIT
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
    return boxes.reshape(n, gh * gw, 4), scores.reshape(n, gh * gw)


def unit_scaled(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1]. Inside the shipped graphs, so every runtime is sent uint8 (a
    quarter of the bytes of float32); the cast comes first, as TensorRT requires of a uint8 input."""
    return pixels.float() / 255.0


class DetectorForExport(nn.Module):
    """The detector as shipped: input `images` (uint8), outputs `boxes`, `scores` (box decoding inside)."""

    def __init__(self, detector: PlateDetector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return decode_detector_maps(self.detector(unit_scaled(images)))


class PlateRecogniser(nn.Module):
    """CNN + temporal convolutions + CTC over 32 columns of a 32x128 grey crop.

    `width` scales every layer's channels (1.0: version 1's 16-128 channels, 0.086 GFLOPs a plate).
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.width = width

        def c(channels: int) -> int:
            return max(8, int(round(channels * width / 8)) * 8)

        self.features = nn.Sequential(
            conv_bn(1, c(16)),
            nn.MaxPool2d(2),  # 16x64
            conv_bn(c(16), c(32)),
            nn.MaxPool2d(2),  # 8x32
            conv_bn(c(32), c(64)),
            conv_bn(c(64), c(64)),
            nn.MaxPool2d((2, 1)),  # 4x32
            conv_bn(c(64), c(96)),
            conv_bn(c(96), c(96)),
            nn.MaxPool2d((2, 1)),  # 2x32
            conv_bn(c(96), c(128), kernel=(2, 3), padding=(0, 1)),  # 1x32
        )
        self.sequence = nn.Sequential(
            nn.Conv1d(c(128), c(128), 3, padding=1, bias=False),
            nn.BatchNorm1d(c(128)),
            nn.ReLU(inplace=True),
            nn.Conv1d(c(128), c(128), 3, padding=1, bias=False),
            nn.BatchNorm1d(c(128)),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv1d(c(128), NUM_CLASSES, 1)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """crops: (N, 1, 32, 128) in [0, 1]; returns logits (N, 32, classes)."""
        x = self.features((crops - 0.5) / 0.25).squeeze(2)
        return self.classifier(self.sequence(x)).permute(0, 2, 1)


class RecogniserForExport(nn.Module):
    """The recogniser as shipped: input `crops` (uint8), output `probs` (N, 32, classes), softmaxed."""

    def __init__(self, recogniser: PlateRecogniser) -> None:
        super().__init__()
        self.recogniser = recogniser

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.recogniser(unit_scaled(crops)), dim=-1)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass over convolutions and linear layers."""
    total = 0

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d | nn.Conv1d):
            per_output = module.in_channels // module.groups * int(torch.tensor(module.kernel_size).prod())
            total += output.numel() // output.shape[0] * per_output

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv1d)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for handle in handles:
        handle.remove()
    return total


DETECTOR_INPUT_SHAPE = DETECTOR.input.dims
