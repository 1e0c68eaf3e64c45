"""The classifiers that get unlearned: a CPU-friendly small CNN (MNIST, Fashion-MNIST) and ResNet-18 (CIFAR-10).

Every model takes float images in [0, 1] of shape (N, C, H, W) (uint8 batches are scaled by the callers)
and normalises them itself, so data, metrics and unlearners never need to know which model they hold.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18

from ..classifier import SmallCNN

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
ARCHITECTURES = ("small-cnn", "resnet18-cifar")


def small_cnn(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, width: int = 8, hidden: int = 64):
    """gen_unlearn's SmallCNN at a quarter of the judge's width: 55k parameters, ~20 s per MNIST epoch on 1 thread."""
    return SmallCNN(num_classes=num_classes, in_channels=in_channels, image_size=image_size, width=width, hidden=hidden)


class ResNet18CIFAR(nn.Module):
    """torchvision's ResNet-18 with the CIFAR stem: a 3×3 stride-1 first convolution and no max-pool."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.net = resnet18(num_classes=num_classes)
        self.net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.net.maxpool = nn.Identity()
        mean, std = (CIFAR10_MEAN, CIFAR10_STD) if in_channels == 3 else ((0.5,) * in_channels, (0.5,) * in_channels)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images - self.mean) / self.std)


def resnet18_cifar(num_classes: int = 10, in_channels: int = 3) -> ResNet18CIFAR:
    return ResNet18CIFAR(num_classes, in_channels)


def default_architecture(dataset: str) -> str:
    return "resnet18-cifar" if dataset == "cifar10" else "small-cnn"


def build_classifier(
    architecture: str, num_classes: int, image_shape: tuple[int, int, int], seed: int | None = None
) -> nn.Module:
    """A freshly initialised classifier (seeded when `seed` is given) for images of `image_shape` (C, H, W)."""
    if seed is not None:
        torch.manual_seed(seed)
    channels, height, _ = image_shape
    if architecture == "small-cnn":
        return small_cnn(num_classes, channels, height)
    if architecture == "resnet18-cifar":
        return resnet18_cifar(num_classes, channels)
    raise ValueError(f"unknown architecture {architecture!r}: use one of {', '.join(ARCHITECTURES)}")


def reinitialize(model: nn.Module, seed: int) -> nn.Module:
    """The model's parameters and normalisation statistics drawn afresh, in place (a retrain's starting point)."""
    torch.manual_seed(seed)
    for module in model.modules():
        if module is not model and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model
