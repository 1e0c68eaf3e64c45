"""Labelled image datasets that stream: arrays (in memory or memory-mapped) and image folders on disk.

Every dataset here is a map-style `torch.utils.data.Dataset` whose items are (uint8 image (C, H, W),
label, skipped) with the image already center-cropped, resized and converted to the shape the
pipeline draws (`shape`), so a `DataLoader` with workers can stream it; `labels` are known without
reading any image, so forget/remain splits are index lists. `skipped` lists (padded with −1) the
unreadable files an item stood in for.

An image folder follows torchvision's `ImageFolder` layout, one sub-folder per class. Its folders are
matched to the pipeline's classes by index (`0/`, `1/`, ...), by a name in the pipeline's `id2label`,
or, when there are exactly as many folders as classes, in sorted order: ImageNet's wnid folders
(`n01440764/`, ...) give the standard 1000-class index that DiT-XL/2 uses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
MAX_SKIPPED_PER_ITEM = 4
NO_SKIP = torch.full((MAX_SKIPPED_PER_ITEM,), -1, dtype=torch.long)

Shape = tuple[int, int, int]


def fit_image(image: Image.Image, shape: Shape) -> torch.Tensor:
    """Center-crop `image` to the aspect ratio of `shape` = (C, H, W), resize it (bicubic) and convert it
    to C channels (1: grey, 3: RGB). Returns uint8 (C, H, W)."""
    channels, height, width = shape
    if channels not in (1, 3):
        raise ValueError(f"pipelines with {channels}-channel images are not supported: use 1 (grey) or 3 (RGB)")
    image = image.convert("L" if channels == 1 else "RGB")
    w, h = image.size
    if w * height > h * width:  # too wide: crop the sides
        crop = round(h * width / height)
        image = image.crop(((w - crop) // 2, 0, (w - crop) // 2 + crop, h))
    elif w * height < h * width:  # too tall: crop top and bottom
        crop = round(w * height / width)
        image = image.crop((0, (h - crop) // 2, w, (h - crop) // 2 + crop))
    if image.size != (width, height):
        image = image.resize((width, height), Image.BICUBIC)
    array = np.array(image, dtype=np.uint8)
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


class LabeledImageDataset(Dataset):
    """Base of the streaming datasets: `labels` (N,), `shape` of the images it yields, a description."""

    labels: np.ndarray
    shape: Shape
    source: str
    num_workers: int = 0  # DataLoader workers worth using: 0 for arrays, several for files to decode

    def __len__(self) -> int:
        return len(self.labels)

    def with_shape(self, shape: Shape) -> LabeledImageDataset:
        """The same images, yielded at `shape` (a shallow copy; the files or arrays are shared)."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.shape = tuple(shape)
        copy._warned_small = False
        return copy

    def _warn_if_small(self, size: tuple[int, int], where: str) -> None:
        width, height = size
        if (height < self.shape[1] or width < self.shape[2]) and not getattr(self, "_warned_small", False):
            self._warned_small = True
            logger.warning(
                "%s images such as %s are %d×%d, smaller than the pipeline's %d×%d: they are upscaled",
                self.source, where, width, height, self.shape[2], self.shape[1],
            )  # fmt: skip


class ImageArray(LabeledImageDataset):
    """uint8 images (N, C, H, W) and labels (N,) from arrays, possibly memory-mapped from disk."""

    def __init__(self, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, source: str):
        if isinstance(images, torch.Tensor):
            images = images.numpy()
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"an ImageArray holds uint8 images (N, C, H, W), got {images.dtype} {images.shape}")
        self.images = images
        self.labels = np.asarray(labels.numpy() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64)
        if len(self.labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(self.labels)} labels")
        self.shape = tuple(int(s) for s in images.shape[1:])
        self.native_shape = self.shape
        self.source = source

    @classmethod
    def from_float(cls, images: torch.Tensor, labels: torch.Tensor, source: str) -> ImageArray:
        """Float images in [−1, 1] (the range the pipelines work in), quantised to uint8."""
        quantised = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return cls(quantised, labels, source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        image = torch.from_numpy(np.array(self.images[index]))
        if self.shape != self.native_shape:
            channels, height, width = self.native_shape
            self._warn_if_small((width, height), f"#{index}")
            pil = Image.fromarray(image[0].numpy() if channels == 1 else image.permute(1, 2, 0).numpy())
            image = fit_image(pil, self.shape)
        return image, int(self.labels[index]), NO_SKIP


def scan_image_folder(root: Path) -> tuple[list[str], list[list[Path]]]:
    """Class folder names (sorted) and, for each, its image files (sorted), as torchvision's ImageFolder scans."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist: point --data-root at a folder of class folders")
    folders = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    files = []
    for name in folders:
        found = sorted(
            Path(dirpath) / f
            for dirpath, _, filenames in os.walk(root / name, followlinks=True)
            for f in filenames
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
        )
        files.append(found)
    if not folders or not any(files):
        raise FileNotFoundError(
            f"{root} has no class folders with images: use torchvision's ImageFolder layout, "
            "one sub-folder of images per class"
        )
    return folders, files


def match_class_folders(folders: Sequence[str], class_names: dict[str, int], num_classes: int, root: Path) -> list[int]:
    """The pipeline class of each folder: by index, by a name in `class_names`, or (exactly K folders) in order."""
    if all(f.isdigit() for f in folders):
        ids = [int(f) for f in folders]
        out_of_range = [f for f, i in zip(folders, ids, strict=True) if i >= num_classes]
        if out_of_range:
            raise ValueError(
                f"{root} has class folder {out_of_range[0]} but the pipeline has classes 0..{num_classes - 1}: "
                "remove or rename the extra folders"
            )
        return ids
    lowered = {name.lower(): i for name, i in class_names.items()}
    if all(f.lower() in lowered for f in folders):
        return [lowered[f.lower()] for f in folders]
    if len(folders) == num_classes:
        return list(range(num_classes))  # sorted folder names give the class index (ImageNet's wnids)
    unknown = [f for f in folders if not f.isdigit() and f.lower() not in lowered]
    raise ValueError(
        f"{root} has {len(folders)} class folders but the pipeline has {num_classes} classes, and folder "
        f"{unknown[0]!r} is neither a class index nor a class name of the pipeline: name the folders "
        f"0..{num_classes - 1} or by the pipeline's class names, or give one folder per class in class-index order"
    )


class ImageFolder(LabeledImageDataset):
    """Images in class folders, read and fitted to `shape` one at a time (never held in memory whole).

    An unreadable file is skipped: the item is the next readable file of the same class, and the
    skipped file's index is reported in the item's `skipped` (the training streams count them).
    """

    num_workers = min(8, os.cpu_count() or 1)

    def __init__(
        self,
        root: str | os.PathLike,
        shape: Shape,
        class_names: dict[str, int] | None = None,
        num_classes: int | None = None,
    ):
        self.root = Path(root).expanduser().resolve()
        folders, files = scan_image_folder(self.root)
        ids = match_class_folders(folders, class_names or {}, num_classes or len(folders), self.root)
        self.folders = dict(zip(ids, folders, strict=True))
        self.files = [path for paths in files for path in paths]
        self.labels = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in zip(ids, files, strict=True)])
        sizes = np.array([len(p) for p in files])
        ends = np.cumsum(sizes)
        # files of a class are contiguous: [start, end) of each file's class, to find a stand-in
        self._start = np.repeat(ends - sizes, sizes)
        self._end = np.repeat(ends, sizes)
        self.shape = tuple(shape)
        self.source = f"imagefolder:{self.root}"
        self._reported: set[int] = set()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        start, end = int(self._start[index]), int(self._end[index])
        skipped: list[int] = []
        for k in range(end - start):
            i = start + (index - start + k) % (end - start)
            try:
                with Image.open(self.files[i]) as image:
                    image.load()
                    self._warn_if_small(image.size, str(self.files[i]))
                    fitted = fit_image(image, self.shape)
            except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
                if len(skipped) < MAX_SKIPPED_PER_ITEM:
                    skipped.append(i)
                if i not in self._reported:  # once per file (and DataLoader worker)
                    self._reported.add(i)
                    logger.warning("skipping unreadable image %s (%s)", self.files[i], error)
                continue
            report = torch.tensor(skipped + [-1] * (MAX_SKIPPED_PER_ITEM - len(skipped)), dtype=torch.long)
            return fitted, int(self.labels[index]), report
        raise ValueError(f"no image of class folder {self.files[start].parent} could be read: check the files")
