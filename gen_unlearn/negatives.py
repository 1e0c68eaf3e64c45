"""Images that belong to no class: what a classifier with a "none of these" output learns to reject.

An erased class is often drawn as a blank square, noise, a blob or scattered strokes. A classifier
with only the K real classes must still put such an image in one of them (the shipped MNIST one put a
grey square in class 8 with p = 0.9999), and then forgetting accuracy cannot tell "erased" from "an 8".
These are the negatives a rejecting classifier is trained and checked on, each kind seeded:

- `uniform`: uniform noise; `gaussian`: Gaussian noise around a random grey level;
- `constant`: one grey level (black and white included);
- `blurred`: a real image blurred until nothing of it can be told;
- `blobs`: one to three filled ellipses; `strokes`: three to six short line segments scattered about;
- `lattice`: a small random tile (2-6 pixels a side) repeated over a rectangle: stripes, grids, checkerboards, the
  pattern a DiT erased without real data draws for its class (its patches repeated; `fashion-dit` pullovers
  after SFR-on, which a classifier trained without it called pullovers);
- `other`: images of another dataset (Fashion-MNIST for an MNIST classifier and the other way round).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KINDS = ("uniform", "gaussian", "constant", "blurred", "blobs", "strokes", "lattice", "other")


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of float images (N, C, H, W), separable, reflect-padded."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _ellipses(n: int, height: int, width: int, g: torch.Generator) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    canvas = torch.zeros(n, height, width)
    for i in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            cy, cx = torch.rand(2, generator=g) * torch.tensor([height, width])
            ry, rx = (0.1 + 0.35 * torch.rand(2, generator=g)) * torch.tensor([height, width])
            angle = float(torch.rand(1, generator=g)) * math.pi
            dy, dx = yy - cy, xx - cx
            u = dx * math.cos(angle) + dy * math.sin(angle)
            v = -dx * math.sin(angle) + dy * math.cos(angle)
            level = 0.4 + 0.6 * float(torch.rand(1, generator=g))
            canvas[i][(u / rx) ** 2 + (v / ry) ** 2 <= 1] = level
    return canvas


def _strokes(n: int, height: int, width: int, g: torch.Generator) -> torch.Tensor:
    canvas = torch.zeros(n, height, width)
    for i in range(n):
        for _ in range(int(torch.randint(3, 7, (1,), generator=g))):
            start = torch.rand(2, generator=g) * torch.tensor([height - 1, width - 1])
            length = (0.1 + 0.25 * float(torch.rand(1, generator=g))) * min(height, width)
            angle = float(torch.rand(1, generator=g)) * 2 * math.pi
            for t in torch.linspace(0, 1, int(length * 2) + 2):
                y = int((start[0] + t * length * math.sin(angle)).clamp(0, height - 1))
                x = int((start[1] + t * length * math.cos(angle)).clamp(0, width - 1))
                canvas[i, max(0, y - 1) : y + 1, max(0, x - 1) : x + 1] = 1.0
    return canvas


def _lattice(n: int, height: int, width: int, g: torch.Generator) -> torch.Tensor:
    """A random tile, 2-6 pixels a side (1 along one axis for stripes), repeated over a random rectangle."""
    canvas = torch.zeros(n, height, width)
    for i in range(n):
        periods = torch.randint(2, 7, (2,), generator=g).tolist()
        if torch.rand(1, generator=g) < 1 / 3:
            periods[int(torch.randint(0, 2, (1,), generator=g))] = 1
        low = 0.7 * float(torch.rand(1, generator=g))
        high = low + 0.3 + (0.7 - low) * float(torch.rand(1, generator=g))  # a contrast of at least 0.3
        tile = (low + (high - low) * torch.rand(*periods, generator=g)).view(-1)
        tile[0], tile[-1] = low, high
        shift = [int(torch.randint(0, p, (1,), generator=g)) for p in periods]
        pattern = tile.view(*periods).repeat(height // periods[0] + 2, width // periods[1] + 2)
        pattern = pattern[shift[0] : shift[0] + height, shift[1] : shift[1] + width]
        size = torch.tensor([height, width])
        top, left = (torch.rand(2, generator=g) * size / 4).long().tolist()  # a margin of up to a quarter
        bottom, right = (size - torch.rand(2, generator=g) * size / 4).long().tolist()
        canvas[i, top:bottom, left:right] = pattern[top:bottom, left:right]
    return canvas


DRAWN = {"blobs": _ellipses, "strokes": _strokes, "lattice": _lattice}  # the kinds drawn on a canvas, one channel


def synthetic_negatives(
    kind: str,
    n: int,
    shape: tuple[int, int, int],
    generator: torch.Generator,
    real: torch.Tensor | None = None,
    other: torch.Tensor | None = None,
) -> torch.Tensor:
    """`n` negatives of `kind` as uint8 images (n, C, H, W). `blurred` needs `real` images, `other` needs `other`
    (uint8 (M, C, H, W) of the same shape)."""
    channels, height, width = shape
    g = generator
    if kind == "uniform":
        images = torch.rand(n, channels, height, width, generator=g)
    elif kind == "gaussian":
        centre = torch.rand(n, 1, 1, 1, generator=g)
        spread = 0.05 + 0.45 * torch.rand(n, 1, 1, 1, generator=g)
        images = centre + spread * torch.randn(n, channels, height, width, generator=g)
    elif kind == "constant":
        levels = torch.rand(n, 1, 1, 1, generator=g)
        levels[: n // 3] = 0.0  # a black square: the commonest "erased" picture on a black background
        images = levels.expand(n, channels, height, width)
    elif kind == "blurred":
        if real is None:
            raise ValueError("blurred negatives need real images to blur")
        picked = real[torch.randint(0, len(real), (n,), generator=g)].float() / 255.0
        images = _blur(picked, sigma=min(height, width) / 6)
    elif kind in DRAWN:
        images = DRAWN[kind](n, height, width, g).unsqueeze(1).expand(n, channels, height, width)
    elif kind == "other":
        if other is None:
            raise ValueError("'other' negatives need images of another dataset")
        return other[torch.randint(0, len(other), (n,), generator=g)].clone()
    else:
        raise ValueError(f"unknown kind of negative {kind!r}: use one of {', '.join(KINDS)}")
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def mixed_negatives(
    n: int,
    shape: tuple[int, int, int],
    generator: torch.Generator,
    real: torch.Tensor | None = None,
    other: torch.Tensor | None = None,
) -> torch.Tensor:
    """`n` negatives spread over every kind that the given images allow, shuffled."""
    kinds = [k for k in KINDS if (k != "blurred" or real is not None) and (k != "other" or other is not None)]
    counts = [n // len(kinds) + (i < n % len(kinds)) for i in range(len(kinds))]
    parts = [synthetic_negatives(k, c, shape, generator, real, other) for k, c in zip(kinds, counts, strict=True) if c]
    images = torch.cat(parts)
    return images[torch.randperm(len(images), generator=generator)]
