"""The networks, in plain torch: ResNet18, VGG19-BN (Whitmore et al. 2021 §3, Thilker et al.
2022 §5) with five input bands, and the Viana et al. age CNN (Table 2).

* :class:`ResNet18`: He et al. 2016, BasicBlock [2, 2, 2, 2], widths 64-512, the layout of
  torchvision's ``resnet18`` (11,689,512 parameters with 3 channels and 1000 classes); with
  5 input bands and 4 classes it has 11,184,836. ``small_input=True`` swaps the 7x7/2 stem and
  its max-pool for a 3x3/1 convolution (the reduced stride of Bialopetravičius §2 Fig. 2.4,
  "to extract more low-level information"), for stamps of 16-64 px.
* :class:`VGG19BN`: Simonyan & Zisserman 2014 configuration E with batch normalisation,
  adaptive 7x7 average pool and the 4096-4096 classifier with dropout 0.5 (torchvision
  ``vgg19_bn``: 143,678,248 parameters at 3 channels, 1000 classes; 5 bands and 4 classes:
  139,598,788).
* :class:`VianaAgeNet`: three 3x3 'valid' convolutions of 128, 256, 512 filters each followed
  by a 2x2 max-pool, then dense 512, 256, 128 (ReLU) and one linear output (log age, scaled);
  39,394,817 parameters at 112 px with five bands (Viana et al. Table 2, §III.1).

``width`` scales every layer's channel count (1.0 = the papers') so tests can train small
copies; the paper-size settings stay the defaults.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "ResNet18",
    "UnknownArchitectureError",
    "VGG19BN",
    "VianaAgeNet",
    "build_network",
    "choose_device",
    "count_parameters",
]

#: Architecture name -> display name (``ml_model.architecture``).
ARCHITECTURES = {"resnet18": "ResNet18", "vgg19bn": "VGG19-BN", "viana": "Viana age CNN"}
#: VGG19 configuration E ("M" = 2x2 max-pool).
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
             512, 512, 512, 512, "M", 512, 512, 512, 512, "M")  # fmt: skip


class UnknownArchitectureError(ValueError):
    """An architecture name that is not one of :data:`ARCHITECTURES`."""


def _w(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet18 for ``in_channels`` bands and ``n_classes`` logits (module docstring)."""

    def __init__(
        self,
        in_channels: int = 5,
        n_classes: int = 4,
        *,
        width: float = 1.0,
        small_input: bool = False,
    ) -> None:
        super().__init__()
        widths = [_w(c, width) for c in (64, 128, 256, 512)]
        if small_input:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        layers, c_in = [], widths[0]
        for k, c_out in enumerate(widths):
            stride = 1 if k == 0 else 2
            layers += [_BasicBlock(c_in, c_out, stride), _BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class VGG19BN(nn.Module):
    """VGG19 with batch normalisation for ``in_channels`` bands (module docstring)."""

    def __init__(
        self,
        in_channels: int = 5,
        n_classes: int = 4,
        *,
        width: float = 1.0,
        hidden: int = 4096,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                c_out = _w(int(v), width)
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                           nn.ReLU(inplace=True)]  # fmt: skip
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(c_in * 49, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )  # fmt: skip
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 32:  # five 2x2 max-pools
            raise ValueError(f"VGG19-BN needs cutouts of at least 32 px, got {x.shape[-1]}")
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class VianaAgeNet(nn.Module):
    """Viana et al. Table 2: 3 x (conv 3x3 valid + ReLU + max-pool 2), dense 512-256-128, 1.

    ``size_px`` fixes the flattened size (112 px -> 12x12x512). Keras defaults are mirrored:
    Glorot-uniform kernels, zero biases (§3.12 of the extract).
    """

    def __init__(self, in_channels: int = 5, size_px: int = 112, *, width: float = 1.0) -> None:
        super().__init__()
        filters = [_w(c, width) for c in (128, 256, 512)]
        layers: list[nn.Module] = []
        c_in, side = in_channels, int(size_px)
        for c_out in filters:
            layers += [nn.Conv2d(c_in, c_out, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2)]
            c_in, side = c_out, (side - 2) // 2
        if side < 1:
            raise ValueError(f"Viana age CNN needs cutouts of at least 22 px, got {size_px}")
        self.features = nn.Sequential(*layers)
        dense = [_w(c, width) for c in (512, 256, 128)]
        self.head = nn.Sequential(
            nn.Linear(c_in * side * side, dense[0]), nn.ReLU(inplace=True),
            nn.Linear(dense[0], dense[1]), nn.ReLU(inplace=True),
            nn.Linear(dense[1], dense[2]), nn.ReLU(inplace=True),
            nn.Linear(dense[2], 1),
        )  # fmt: skip
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1)).squeeze(1)


def build_network(
    architecture: str, *, in_channels: int = 5, n_classes: int = 4, size_px: int = 112,
    width: float = 1.0, small_input: bool = False,
) -> nn.Module:  # fmt: skip
    """The network called ``architecture`` (a key of :data:`ARCHITECTURES`)."""
    key = architecture.strip().lower().replace("-", "").replace("_", "")
    if key == "resnet18":
        return ResNet18(in_channels, n_classes, width=width, small_input=small_input)
    if key == "vgg19bn":
        return VGG19BN(in_channels, n_classes, width=width, hidden=_w(4096, width))
    if key in ("viana", "vianaage", "age"):
        return VianaAgeNet(in_channels, size_px, width=width)
    raise UnknownArchitectureError(
        f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}"
    )


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def choose_device(prefer: str | None = None) -> torch.device:
    """CUDA when present (or ``prefer``), else the CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
