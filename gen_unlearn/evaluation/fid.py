"""FID through two libraries, both offline: torch-fidelity and clean-fid, on the same uint8 images.

By default the features come from one Inception pass that both backends share (`shared_features`: images
resized in batches on the network's device), and each backend computes the statistics and the Frechet
distance with its own code. With `shared=False` (`--fid-features separate`) each backend also extracts
the features through its own pipeline, which is the cross-check that the numbers do not depend on it:

- torch-fidelity: a registered feature extractor (`gen-unlearn-inception`, a `FeatureExtractorBase` that
  takes uint8 images of any size), an in-memory uint8 `Dataset` through torch-fidelity's own data loader
  (`extract_featuresdict_from_input_id`), then `fid_features_to_statistics` / `fid_statistics_to_metric`.
- clean-fid: the images written as lossless PNG files and read back by clean-fid's folder pipeline
  (`get_folder_features`: PIL `convert('RGB')`, `custom_fn_resize`, its data loader) with the network as
  its `custom_feat_extractor`, then `cleanfid.fid.frechet_distance`.

Both use the same network and the same resize (see `features.py`), so on the same images they agree to
numerical precision; they differ in the Frechet square root (eigenvalues vs `scipy.linalg.sqrtm`).
Reference statistics are computed once per (images, backend, weights, resize) and cached under
`$GEN_UNLEARN_CACHE/fid-reference/`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..io import atomic_path, cache_dir, tensor_sha256
from .features import (
    DEFAULT_RESIZE,
    DOMAIN_LABEL,
    ClassifierFeatures,
    InceptionNetwork,
    as_nchw_uint8,
    numpy_resizer,
    pad_to_rgb,
    resize_batch,
)

logger = logging.getLogger(__name__)

BACKENDS = ("torch-fidelity", "clean-fid")
DOMAIN_BACKEND = "classifier-fd"
TORCH_FIDELITY_EXTRACTOR = "gen-unlearn-inception"
STATS_FORMAT = 1  # bump when what goes into cached statistics changes


@dataclass
class FeatureStatistics:
    """Mean and covariance of a set of features, and how many images they came from."""

    mu: np.ndarray
    sigma: np.ndarray
    num: int

    def save(self, path: str | Path, meta: dict[str, Any]) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would append ".npz"
            np.savez(f, mu=self.mu, sigma=self.sigma, num=np.int64(self.num), meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: str | Path) -> FeatureStatistics:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["mu"], data["sigma"], int(data["num"]))

    @classmethod
    def load_reference(cls, path: str | Path, dims: int = 2048) -> FeatureStatistics:
        """Precomputed reference statistics: an `.npz` with `mu` (dims,) and `sigma` (dims, dims), as clean-fid's
        stats files and ADM's reference batches (VIRTUAL_imagenet256_labeled.npz) store them; `num` is -1
        where the file does not say how many images they came from."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"reference statistics {path} do not exist: give an .npz with mu and sigma")
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data or "sigma" not in data:
                raise ValueError(
                    f"{path} has no mu and sigma (it holds {', '.join(data.files) or 'nothing'}): give an .npz "
                    "of FID statistics, as clean-fid or ADM's reference batches write them"
                )
            mu, sigma = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
            num = int(data["num"]) if "num" in data else -1
        if mu.shape != (dims,) or sigma.shape != (dims, dims):
            raise ValueError(
                f"{path} holds statistics of {mu.shape[-1] if mu.ndim else 0}-d features but Inception's pool "
                f"features are {dims}-d: give statistics of the 2048-d FID Inception features"
            )
        return cls(mu, sigma, num)


# -- torch-fidelity --------------------------------------------------------------------------------


def _torch_fidelity_extractor_class() -> type:
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.helpers import vassert

    class TorchFidelityInception(FeatureExtractorBase):
        """torch-fidelity's view of the FID Inception: uint8 (B, 3, H, W) in, ("2048",) features out.

        Keyword arguments (they reach it through `calculate_metrics`): `feature_extractor_weights_path`
        (the TorchScript file), `gen_unlearn_resize` (a `RESIZE_METHODS` name) or a ready
        `gen_unlearn_network` (an `InceptionNetwork`).
        """

        def __init__(
            self,
            name: str,
            features_list: list[str],
            feature_extractor_weights_path: str | None = None,
            gen_unlearn_resize: str = DEFAULT_RESIZE,
            gen_unlearn_network: InceptionNetwork | None = None,
            **kwargs: Any,
        ):
            super().__init__(name, features_list)
            self.inception = gen_unlearn_network or InceptionNetwork(feature_extractor_weights_path, gen_unlearn_resize)

        @staticmethod
        def get_provided_features_list() -> tuple[str, ...]:
            return ("2048",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric: str) -> str:
            return "2048"

        @staticmethod
        def can_be_compiled() -> bool:
            return False

        @staticmethod
        def get_dummy_input_for_compile() -> torch.Tensor:
            return torch.zeros(1, 3, 28, 28, dtype=torch.uint8)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            vassert(torch.is_tensor(x) and x.dtype == torch.uint8, "Expecting image as torch.Tensor with dtype=uint8")
            vassert(x.dim() == 4 and x.shape[1] == 3, f"Input is not Bx3xHxW: {tuple(x.shape)}")
            return (self.inception(resize_batch(x, self.inception.resize)),)

    return TorchFidelityInception


def register_torch_fidelity_extractor() -> str:
    """Register the FID Inception with torch-fidelity (once per process); returns its registered name.

    Then `torch_fidelity.calculate_metrics(..., fid=True, feature_extractor="gen-unlearn-inception",
    feature_extractor_weights_path=PATH, cuda=False)` works offline.
    """
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if TORCH_FIDELITY_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(TORCH_FIDELITY_EXTRACTOR, _torch_fidelity_extractor_class())
    return TORCH_FIDELITY_EXTRACTOR


class UInt8Images(Dataset):
    """In-memory uint8 images as torch-fidelity's datasets give them: (3, H, W) uint8 tensors."""

    def __init__(self, images: np.ndarray | torch.Tensor):
        self.images = pad_to_rgb(as_nchw_uint8(images))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index].contiguous()


# -- backends ---------------------------------------------------------------------------------------


def torch_fidelity_statistics(features: np.ndarray) -> FeatureStatistics:
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(torch.from_numpy(features))
    return FeatureStatistics(stats["mu"], stats["sigma"], len(features))


def torch_fidelity_frechet(a: FeatureStatistics, b: FeatureStatistics) -> float:
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    return float(fid_statistics_to_metric(_as_dict(a), _as_dict(b), verbose=False)[KEY_METRIC_FID])


class SqrtmWithDisp:
    """`scipy.linalg` for clean-fid 0.1.35 on a SciPy whose `sqrtm` no longer takes `disp` (deprecated, then
    removed; the lent H200's SciPy refused it): clean-fid's `frechet_distance` calls `sqrtm(A, disp=False)` and
    keeps the root. The root is SciPy's own; the error estimate it unpacks and ignores is SciPy's old one,
    ||X² − A||²_F / ||A||_F."""

    def __getattr__(self, name: str) -> Any:
        import scipy.linalg

        return getattr(scipy.linalg, name)

    @staticmethod
    def sqrtm(a: np.ndarray, disp: bool = True) -> Any:
        import scipy.linalg

        root = scipy.linalg.sqrtm(a)
        if disp:
            return root
        residual = np.linalg.norm(root @ root - a, "fro") ** 2 / np.linalg.norm(a, "fro")
        return root, residual


def sqrtm_takes_disp() -> bool:
    import inspect

    import scipy.linalg

    return "disp" in inspect.signature(scipy.linalg.sqrtm).parameters


def clean_fid_frechet(a: FeatureStatistics, b: FeatureStatistics, adapt_sqrtm: bool | None = None) -> float:
    """clean-fid's own `frechet_distance`; on a SciPy without `sqrtm(disp=)` (`adapt_sqrtm` None: found out),
    it runs with `SqrtmWithDisp` as its `linalg`, so the value is still clean-fid's computation."""
    import cleanfid.fid

    adapt = not sqrtm_takes_disp() if adapt_sqrtm is None else adapt_sqrtm
    original = cleanfid.fid.linalg
    if adapt:
        cleanfid.fid.linalg = SqrtmWithDisp()
    try:
        with stdout_to_log(logging.WARNING):  # its note on a singular product is printed
            return float(cleanfid.fid.frechet_distance(a.mu, a.sigma, b.mu, b.sigma))
    finally:
        cleanfid.fid.linalg = original


@contextmanager
def stdout_to_log(level: int) -> Iterator[None]:
    """What a library prints to stdout (clean-fid's notes) goes to the gen_unlearn logger instead, line by line."""
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            yield
    finally:
        for line in buffer.getvalue().splitlines():
            if line.strip():
                logger.log(level, "clean-fid: %s", line.strip())


def shared_features(network: InceptionNetwork, images: torch.Tensor, batch_size: int, progress: bool) -> np.ndarray:
    """The one Inception pass of the default protocol: batches moved to the device, resized and run there."""
    from tqdm.auto import tqdm

    images = pad_to_rgb(as_nchw_uint8(images))
    batches = tqdm(images.split(batch_size), desc="Inception features", disable=not progress, leave=False)
    return torch.cat([network.features(batch, batch_size) for batch in batches]).numpy()


SHARED_PIPELINE = "one Inception pass shared by the backends: uint8 batches resized on the device (resize_batch)"


class Backend:
    """One way from uint8 images to features, statistics and a Frechet distance.

    `extraction` names where the features come from: backends with the same extraction give the same features
    of the same images, so an evaluation extracts them once (`FeatureSets`).
    """

    name: ClassVar[str]
    label: ClassVar[str] = "FID"
    extraction: str

    def features(self, images: torch.Tensor, batch_size: int, progress: bool) -> np.ndarray:
        raise NotImplementedError

    def statistics(self, features: np.ndarray) -> FeatureStatistics:
        raise NotImplementedError

    def frechet(self, a: FeatureStatistics, b: FeatureStatistics) -> float:
        raise NotImplementedError

    def protocol(self) -> dict[str, Any]:
        raise NotImplementedError

    def cache_tag(self) -> dict[str, Any]:
        protocol = self.protocol()
        return {
            "backend": self.name,
            "extraction": self.extraction,
            "weights_sha256": protocol["weights_sha256"],
            "resize": protocol["resize"],
        }


class InceptionBackend(Backend):
    """A FID library over the FID Inception: the shared pass's features, or its own extraction pipeline."""

    own_pipeline: ClassVar[str]
    statistics_code: ClassVar[str]

    def __init__(self, network: InceptionNetwork, shared: bool = True):
        self.network, self.shared = network, shared
        self.extraction = "shared" if shared else self.name

    def features(self, images: torch.Tensor, batch_size: int, progress: bool) -> np.ndarray:
        if self.shared:
            return shared_features(self.network, images, batch_size, progress)
        return self.own_features(images, batch_size, progress)

    def own_features(self, images: torch.Tensor, batch_size: int, progress: bool) -> np.ndarray:
        raise NotImplementedError

    def protocol(self) -> dict[str, Any]:
        return {
            **self.network.protocol(),
            "backend": self.version(),
            "features": SHARED_PIPELINE if self.shared else self.own_pipeline,
            "statistics": self.statistics_code,
        }

    def version(self) -> str:
        raise NotImplementedError


class TorchFidelityBackend(InceptionBackend):
    name = "torch-fidelity"
    own_pipeline = (
        f"registered extractor '{TORCH_FIDELITY_EXTRACTOR}', in-memory uint8 Dataset, "
        "extract_featuresdict_from_input_id"
    )
    statistics_code = "fid_features_to_statistics, fid_statistics_to_metric"

    def own_features(self, images: torch.Tensor, batch_size: int, progress: bool) -> np.ndarray:
        from torch_fidelity.utils import create_feature_extractor, extract_featuresdict_from_input_id

        cuda = self.network.device.type == "cuda"
        extractor = create_feature_extractor(
            register_torch_fidelity_extractor(),
            ["2048"],
            cuda=cuda,
            verbose=False,
            gen_unlearn_network=self.network,
            gen_unlearn_resize=self.network.resize,
        )
        featuresdict = extract_featuresdict_from_input_id(
            1,
            extractor,
            input1=UInt8Images(images),
            cuda=cuda,
            batch_size=batch_size,
            save_cpu_ram=True,  # num_workers=0: no worker processes
            verbose=progress,
        )
        return featuresdict["2048"].numpy()

    def statistics(self, features: np.ndarray) -> FeatureStatistics:
        return torch_fidelity_statistics(features)

    def frechet(self, a: FeatureStatistics, b: FeatureStatistics) -> float:
        return torch_fidelity_frechet(a, b)

    def version(self) -> str:
        import torch_fidelity

        return f"torch-fidelity {torch_fidelity.__version__}"


class CleanFIDBackend(InceptionBackend):
    name = "clean-fid"
    own_pipeline = (
        "lossless PNG files, get_folder_features (custom_feat_extractor, custom_fn_resize: PIL per image on the CPU)"
    )
    statistics_code = "numpy mean and cov (as fid_from_feats), frechet_distance"

    def own_features(self, images: torch.Tensor, batch_size: int, progress: bool) -> np.ndarray:
        from cleanfid.fid import get_folder_features

        images = as_nchw_uint8(images)
        with tempfile.TemporaryDirectory(prefix="gen_unlearn_cleanfid_") as folder:
            for i, image in enumerate(images):
                array = image.permute(1, 2, 0).numpy()
                Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(Path(folder) / f"{i:07d}.png")
            with stdout_to_log(logging.DEBUG):  # clean-fid prints its notes to stdout
                return get_folder_features(
                    folder,
                    model=self.network,  # clean-fid's custom_feat_extractor: float (B, 3, 299, 299) in [0, 255]
                    num_workers=0,
                    batch_size=batch_size,
                    device=self.network.device,
                    mode="clean",
                    custom_fn_resize=numpy_resizer(self.network.resize),
                    description="clean-fid features",
                    verbose=progress,
                )

    def statistics(self, features: np.ndarray) -> FeatureStatistics:
        # as clean-fid's own fid_from_feats and compare_folders compute them
        return FeatureStatistics(np.mean(features, axis=0), np.cov(features, rowvar=False), len(features))

    def frechet(self, a: FeatureStatistics, b: FeatureStatistics) -> float:
        return clean_fid_frechet(a, b)

    def version(self) -> str:
        from importlib import metadata

        return f"clean-fid {metadata.version('clean-fid')}"


class DomainBackend(Backend):
    """Frechet distance on a classifier's penultimate features: a domain metric, *not* Inception FID."""

    name = DOMAIN_BACKEND
    label = DOMAIN_LABEL
    extraction = DOMAIN_BACKEND

    def __init__(self, extractor: ClassifierFeatures):
        self.extractor = extractor

    def features(self, images: torch.Tensor, batch_size: int, progress: bool) -> np.ndarray:
        return self.extractor.features(as_nchw_uint8(images)).numpy()

    def statistics(self, features: np.ndarray) -> FeatureStatistics:
        return torch_fidelity_statistics(features)

    def frechet(self, a: FeatureStatistics, b: FeatureStatistics) -> float:
        return torch_fidelity_frechet(a, b)

    def protocol(self) -> dict[str, Any]:
        return {**self.extractor.protocol(), "backend": "torch-fidelity fid_statistics_to_metric", "note": self.label}


def _as_dict(stats: FeatureStatistics) -> dict[str, np.ndarray]:
    return {"mu": stats.mu, "sigma": stats.sigma}


def make_backend(name: str, network: InceptionNetwork, shared: bool = True) -> Backend:
    """A FID backend by name; `shared` takes the features from the one shared Inception pass."""
    if name == TorchFidelityBackend.name:
        return TorchFidelityBackend(network, shared)
    if name == CleanFIDBackend.name:
        return CleanFIDBackend(network, shared)
    raise ValueError(f"unknown FID backend {name!r}: use one of {', '.join(BACKENDS)}")


def check_backends(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown FID backend {', '.join(unknown)}: use one or more of {', '.join(BACKENDS)}")
    return names


# -- statistics of images, reference statistics cached ----------------------------------------------


@dataclass
class StatisticsResult:
    stats: FeatureStatistics
    features_s: float
    cached: bool = False
    cache_file: str | None = None


class FeatureSets:
    """Features of the image sets of one evaluation, extracted once per (extraction, set).

    Backends that share the Inception pass ask for the same features: the second asks for free (0 s).
    """

    def __init__(self, batch_size: int = 50, progress: bool = True):
        self.batch_size, self.progress = batch_size, progress
        self._features: dict[tuple[str, str], np.ndarray] = {}

    def statistics(self, backend: Backend, images: torch.Tensor, label: str) -> StatisticsResult:
        """Statistics of the set called `label` through `backend`, timing only the extraction done here."""
        if len(images) < 2:
            raise ValueError(f"FID needs at least 2 images per set, got {len(images)}")
        key, start = (backend.extraction, label), time.time()
        if key not in self._features:
            self._features[key] = backend.features(images, self.batch_size, self.progress)
        seconds = time.time() - start
        return StatisticsResult(backend.statistics(self._features[key]), seconds)


def image_statistics(
    backend: Backend, images: np.ndarray | torch.Tensor, batch_size: int = 50, progress: bool = True
) -> StatisticsResult:
    """Features and statistics of uint8 images through one backend, timed."""
    return FeatureSets(batch_size, progress).statistics(backend, as_nchw_uint8(images), "images")


def reference_statistics(
    backend: Backend,
    images: np.ndarray | torch.Tensor,
    description: dict[str, Any] | None = None,
    batch_size: int = 50,
    progress: bool = True,
    features: FeatureSets | None = None,
) -> StatisticsResult:
    """Statistics of real reference images, computed once and cached.

    The cache key is the images' own sha256 (so a changed selection can never hit a stale file) plus the
    backend, where its features come from, the weights' sha256 and the resize method. On a miss the
    features come from `features` (shared with the other backends of the evaluation) when given.
    """
    images = as_nchw_uint8(images)
    key = {"format": STATS_FORMAT, "images_sha256": tensor_sha256(images), **backend.cache_tag()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    name = (description or {}).get("dataset", "images")
    path = cache_dir() / "fid-reference" / f"{name}-{backend.name}-{digest}.npz"
    if path.exists():
        return StatisticsResult(FeatureStatistics.load(path), 0.0, cached=True, cache_file=str(path))
    result = (features or FeatureSets(batch_size, progress)).statistics(backend, images, "reference")
    result.stats.save(path, {**key, **(description or {}), "num_images": len(images)})
    result.cache_file = str(path)
    return result


def compute_fid(
    samples: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    backends: tuple[str, ...] = BACKENDS,
    inception: str | Path | InceptionNetwork | None = None,
    resize: str = DEFAULT_RESIZE,
    batch_size: int = 50,
    progress: bool = False,
    cache_reference: bool = False,
    shared: bool = True,
) -> dict[str, float]:
    """FID of uint8 `samples` against uint8 `reference` images, one number per backend (no protocol record:
    `gen_unlearn.evaluate` gives the full report). `shared=False` extracts features once per backend."""
    network = inception if isinstance(inception, InceptionNetwork) else InceptionNetwork(inception, resize)
    samples, reference = as_nchw_uint8(samples), as_nchw_uint8(reference)
    features, out = FeatureSets(batch_size, progress), {}
    for name in check_backends(backends):
        backend = make_backend(name, network, shared)
        if cache_reference:
            ref = reference_statistics(backend, reference, progress=progress, features=features).stats
        else:
            ref = features.statistics(backend, reference, "reference").stats
        out[name] = backend.frechet(features.statistics(backend, samples, "samples").stats, ref)
    return out


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


__all__ = [
    "BACKENDS",
    "DOMAIN_BACKEND",
    "Backend",
    "CleanFIDBackend",
    "DomainBackend",
    "FeatureStatistics",
    "TorchFidelityBackend",
    "UInt8Images",
    "compute_fid",
    "image_statistics",
    "make_backend",
    "reference_statistics",
    "register_torch_fidelity_extractor",
]
