"""Datasets from a local root in torchvision's layout, and the forget/remain splits unlearning needs.

The data root comes from, in order: the `root` argument (`--data-root`), the environment variable
`GEN_UNLEARN_DATA_ROOT`, or `~/.cache/gen_unlearn/data`. Nothing is downloaded unless `download=True`
is asked for; a root without the files gives a one-line error that says where to put them. The root is
only read (it may be a shared folder): archives are extracted into the cache (`GEN_UNLEARN_CACHE`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset
from torchvision import datasets

from .images import ImageArray, ImageFolder, LabeledImageDataset
from .io import cache_dir

DATA_ROOT_ENV = "GEN_UNLEARN_DATA_ROOT"

_TORCHVISION_DATASETS = {
    "mnist": (datasets.MNIST, "MNIST/raw"),
    "fashion-mnist": (datasets.FashionMNIST, "FashionMNIST/raw"),
    "cifar10": (datasets.CIFAR10, "cifar-10-batches-py"),
}
MNIST_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FASHION_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
]  # fmt: skip
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DATASET_CLASS_NAMES = {"mnist": MNIST_NAMES, "fashion-mnist": FASHION_NAMES, "cifar10": CIFAR10_NAMES}
DEFAULT_DATASET = "mnist"


def dataset_of(pipeline: Any, dataset: str | None = None) -> str:
    """`dataset` when given; else the dataset whose class names the pipeline carries (its `id2label`), so a
    Fashion-MNIST pipeline is compared with Fashion-MNIST; else "mnist" (a pipeline with unnamed classes)."""
    if dataset:
        return dataset
    names = [name.lower() for name in pipeline.class_names]
    for key, known in DATASET_CLASS_NAMES.items():
        if names == [name.lower() for name in known]:
            return key
    return DEFAULT_DATASET


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not under the data root (and no download was asked for)."""


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get(DATA_ROOT_ENV) or cache_dir() / "data").expanduser().resolve()


@dataclass
class LabeledImages:
    """A whole image dataset in memory: uint8 images (N, C, H, W) and int64 labels (N,)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, indices: torch.Tensor) -> LabeledImages:
        return LabeledImages(self.name, self.images[indices], self.labels[indices], self.class_names)

    def of_class(self, class_id: int) -> LabeledImages:
        return self.subset(torch.nonzero(self.labels == class_id).flatten())

    def as_model_input(self) -> torch.Tensor:
        """Images as float in [-1, 1], the range the diffusion pipelines work in."""
        return self.images.float() / 127.5 - 1.0


def _expected_files(name: str) -> list[str]:
    cls, _ = _TORCHVISION_DATASETS[name]
    if name == "cifar10":
        return [cls.filename]
    return [filename for filename, _ in cls.resources]


def _is_extracted(name: str, folder: Path) -> bool:
    if name == "cifar10":
        return (folder / "batches.meta").exists()
    return all((folder / Path(f).stem).exists() for f in _expected_files(name))


def _locate(name: str, root: Path, download: bool) -> Path:
    """A root under which the dataset is extracted in torchvision's layout, extracting or downloading if needed."""
    cls, subdir = _TORCHVISION_DATASETS[name]
    if _is_extracted(name, root / subdir):
        return root
    archives_dir = root if name == "cifar10" else root / subdir
    archives = [archives_dir / f for f in _expected_files(name)]
    if all(a.exists() for a in archives):
        # Extract into the cache through links to the archives: the data root is never written to
        # (it may be shared or read-only, and running as root would not stop a write).
        mirror = cache_dir() / "extracted" / hashlib.sha1(str(root).encode()).hexdigest()[:12]
        mirror_dir = mirror if name == "cifar10" else mirror / subdir
        mirror_dir.mkdir(parents=True, exist_ok=True)
        for archive in archives:
            link = mirror_dir / archive.name
            if not link.exists():
                link.symlink_to(archive)
        # The archives are there and torchvision checks their md5: this extracts, it does not download.
        cls(str(mirror), train=False, download=True)
        return mirror
    if download:
        cls(str(root), train=False, download=True)
        return root
    missing = ", ".join(a.name for a in archives if not a.exists())
    raise DatasetNotFoundError(
        f"{name} not found: put {missing} in {archives_dir} (torchvision layout), point --data-root or "
        f"${DATA_ROOT_ENV} at a folder that has them, or pass --download if this machine has network access"
    )


def _read_cifar10(folder: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The python-pickle batches of CIFAR-10, read as torchvision's `CIFAR10` reads them (no md5 check)."""
    files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    data, labels = [], []
    for file in files:
        with open(folder / file, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry.get("labels", entry.get("fine_labels", [])))
    with open(folder / "batches.meta", "rb") as f:
        class_names = pickle.load(f, encoding="latin1")["label_names"]
    return torch.from_numpy(np.concatenate(data)), torch.tensor(labels, dtype=torch.long), list(class_names)


def load_dataset(
    name: str, root: str | os.PathLike | None = None, train: bool = True, download: bool = False
) -> LabeledImages:
    """Load "mnist", "fashion-mnist" or "cifar10" (train or test split) into memory."""
    key = name.lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in _TORCHVISION_DATASETS:
        raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(_TORCHVISION_DATASETS)}")
    cls, subdir = _TORCHVISION_DATASETS[key]
    location = _locate(key, resolve_data_root(root), download)
    if key == "cifar10":
        images, labels, class_names = _read_cifar10(location / subdir, train)
    else:
        dataset = cls(str(location), train=train, download=False)
        images = dataset.data.unsqueeze(1).contiguous()
        labels = dataset.targets.long()
        class_names = MNIST_NAMES if key == "mnist" else list(dataset.classes)
    return LabeledImages(key, images, labels, class_names)


def class_split(labels: torch.Tensor, forget_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the forget set (every sample of `forget_class`) and of the remain set (the others)."""
    num_classes = int(labels.max()) + 1
    if not 0 <= forget_class < num_classes:
        raise ValueError(f"forget class {forget_class} is out of range: the labels cover classes 0..{num_classes - 1}")
    is_forget = labels == forget_class
    return torch.nonzero(is_forget).flatten(), torch.nonzero(~is_forget).flatten()


def random_subset_split(num_samples: int, forget_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a random forget subset of `forget_fraction` of the samples, and of the rest (seeded)."""
    if not 0.0 < forget_fraction < 1.0:
        raise ValueError(f"forget fraction must be strictly between 0 and 1, got {forget_fraction}")
    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))
    num_forget = max(1, round(forget_fraction * num_samples))
    return order[:num_forget].sort().values, order[num_forget:].sort().values


def forget_classes(value: int | Sequence[int]) -> tuple[int, ...]:
    """One class index or several, as a sorted tuple without repeats (at least one)."""
    classes = (int(value),) if isinstance(value, (int, np.integer)) else tuple(sorted({int(c) for c in value}))
    if not classes:
        raise ValueError("no class to forget: give at least one class")
    return classes


def class_ids(pipeline: Any, value: int | str | Sequence[int | str]) -> tuple[int, ...]:
    """A pipeline's class ids of one class or several: indices, names, or "3,7" (a name with commas, such as
    ImageNet's "tench, Tinca tinca", is tried whole first)."""
    if isinstance(value, str) and "," in value:
        try:
            return (pipeline.class_id(value),)
        except (ValueError, KeyError):
            value = [v.strip() for v in value.split(",") if v.strip()]
    values = [value] if isinstance(value, (int, str, np.integer)) else list(value)
    return forget_classes([pipeline.class_id(int(v) if isinstance(v, np.integer) else v) for v in values])


@dataclass
class ForgetRemainSets:
    """What an unlearner trains on: one labelled image dataset, cut into the forget class(es) and the rest.

    The images stream from `images` (an array or an image folder, see `gen_unlearn.images`): forget
    batches come from the forget classes' items only, remain batches from the other classes'.
    `forget_class` is one class index, or several (a tuple) when several classes are erased at once.
    """

    images: LabeledImageDataset
    forget_class: int | tuple[int, ...]

    def __post_init__(self) -> None:
        classes = forget_classes(self.forget_class)
        self.forget_class = classes[0] if len(classes) == 1 else classes
        is_forget = np.isin(self.images.labels, classes)
        self.forget_indices = np.flatnonzero(is_forget)
        self.remain_indices = np.flatnonzero(~is_forget)

    @classmethod
    def from_tensors(
        cls, images: torch.Tensor, labels: torch.Tensor, forget_class: int, source: str = "tensors"
    ) -> ForgetRemainSets:
        """From in-memory images: uint8 (N, C, H, W), or float in [-1, 1] (quantised to uint8)."""
        array = ImageArray(images, labels, source) if images.dtype == torch.uint8 else None
        return cls(array or ImageArray.from_float(images, labels, source), forget_class)

    @property
    def forget_classes(self) -> tuple[int, ...]:
        return forget_classes(self.forget_class)

    @property
    def source(self) -> str:
        return self.images.source

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape)

    @property
    def forget(self) -> Subset:
        return Subset(self.images, self.forget_indices.tolist())

    @property
    def remain(self) -> Subset:
        return Subset(self.images, self.remain_indices.tolist())

    def with_shape(self, shape: tuple[int, int, int]) -> ForgetRemainSets:
        """The same split, its images fitted to `shape` (a pipeline's image shape) as they stream."""
        return (
            self
            if tuple(shape) == self.image_shape
            else ForgetRemainSets(self.images.with_shape(shape), self.forget_class)
        )

    def describe(self) -> dict[str, object]:
        return {
            "source": self.source,
            "forget_class": self.forget_class if isinstance(self.forget_class, int) else list(self.forget_class),
            "num_forget": len(self.forget_indices),
            "num_remain": len(self.remain_indices),
            "image_shape": list(self.image_shape),
        }


def real_forget_remain(
    dataset: str,
    forget_class: int | Sequence[int],
    root: str | os.PathLike | None = None,
    shape: tuple[int, int, int] | None = None,
    class_names: dict[str, int] | None = None,
    num_classes: int | None = None,
    download: bool = False,
) -> ForgetRemainSets:
    """The training split of a dataset (or an image folder under `root`), cut into the forget class and the rest.

    Images stream at `shape` (default: the dataset's own); `class_names` and `num_classes` (the
    pipeline's) match an image folder's class folders to class indices.
    """
    if dataset.lower() in ("imagefolder", "image-folder", "folder"):
        if root is None:
            raise ValueError("--dataset imagefolder needs --data-root DIR: a folder with one sub-folder per class")
        if shape is None:
            raise ValueError("an image folder needs the image shape to stream at (the pipeline's image_shape)")
        return ForgetRemainSets(ImageFolder(root, shape, class_names, num_classes), forget_class)
    data = load_dataset(dataset, root, train=True, download=download)
    if num_classes is not None and data.num_classes != num_classes:
        raise ValueError(
            f"{data.name} has {data.num_classes} classes but the pipeline has {num_classes}: "
            "use the dataset the pipeline was trained on, --dataset imagefolder, or --data-free"
        )
    images = ImageArray(data.images, data.labels, f"real:{data.name}")
    return ForgetRemainSets(images.with_shape(shape) if shape else images, forget_class)
