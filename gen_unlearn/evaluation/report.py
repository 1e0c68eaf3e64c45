"""`evaluate`: prove that a class is gone and that the other classes are intact, with the protocol recorded.

The reference protocol for class forgetting (that of SA, SalUn and SFR-on): forgetting accuracy (FA) on N samples of the
forgotten class, with their mean entropy and mean probability of that class; accuracy per remaining class;
FID of samples of the remaining classes against real images of those classes, through each FID backend.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines import ClassConditionalPipeline

from ..classifier import ScriptedClassifier, rejects
from ..data import LabeledImages, load_dataset
from ..hub import load_classifier
from ..images import ImageFolder
from ..io import fingerprint_pipeline, library_versions, sha256_file, write_json
from ..sampling import sample_images, save_samples
from .accuracy import class_accuracy, classify
from .features import DEFAULT_RESIZE, ClassifierFeatures, InceptionNetwork, module_sha256
from .fid import (
    BACKENDS,
    DomainBackend,
    FeatureStatistics,
    StatisticsResult,
    check_backends,
    image_statistics,
    images_sha256,
    make_backend,
)
from .fid import reference_statistics as cached_reference_statistics

DEFAULT_NUM_SAMPLES = 1000
DEFAULT_CLASSIFIER = "mnist-classifier"


@dataclass
class ForgettingScores:
    """How much of the forgotten class is still there, judged by a classifier on its samples.

    With a classifier that can answer "none of these" (a reject output), `forgetting_accuracy` is the
    share put in the forgotten class when rejecting is allowed; `papers_forgetting_accuracy` is the
    papers' protocol, the arg-max over the K class outputs only (a blank image must then be called some
    class). Without a reject output the two are the same.
    """

    forgetting_accuracy: float  # share of samples the classifier assigns to the forgotten class
    mean_entropy: float  # of the classifier's prediction over the K classes, in nats
    mean_forget_probability: float  # mean probability the classifier gives the forgotten class (K classes)
    num_samples: int
    papers_forgetting_accuracy: float = math.nan  # arg-max over the K class outputs only
    rejected: float = 0.0  # share of samples called "none of these"
    drawn_as: dict[str, float] = field(default_factory=dict)  # class index (or "none") -> share of samples


def forgetting_scores(probabilities: torch.Tensor, forget_class: int, rejects: bool = False) -> ForgettingScores:
    """FA (reject-aware and the papers'), the share rejected, where the samples went, mean entropy and mean
    forgotten-class probability, from a classifier's probabilities of forget samples: (N, K), or (N, K + 1)
    when it `rejects` (the last column is "none of these")."""
    if probabilities.ndim != 2 or not len(probabilities):
        raise ValueError(f"need class probabilities of shape (N, K) with N ≥ 1, got {tuple(probabilities.shape)}")
    num_classes = probabilities.shape[1] - int(rejects)
    if not 0 <= forget_class < num_classes:
        raise ValueError(f"forget class {forget_class} is out of range for {num_classes} classes")
    p = probabilities.double()
    verdict = p.argmax(-1)
    classes_only = p[:, :num_classes] / p[:, :num_classes].sum(-1, keepdim=True).clamp_min(1e-12)
    entropy = -(classes_only * classes_only.clamp_min(1e-12).log()).sum(-1)
    counts = torch.bincount(verdict, minlength=p.shape[1]).double() / len(p)
    names = [str(c) for c in range(num_classes)] + (["none"] if rejects else [])
    return ForgettingScores(
        forgetting_accuracy=float((verdict == forget_class).double().mean()),
        mean_entropy=float(entropy.mean()),
        mean_forget_probability=float(classes_only[:, forget_class].mean()),
        num_samples=len(p),
        papers_forgetting_accuracy=float((classes_only.argmax(-1) == forget_class).double().mean()),
        rejected=float(counts[num_classes]) if rejects else 0.0,
        drawn_as={name: float(share) for name, share in zip(names, counts.tolist(), strict=True) if share > 0},
    )


@dataclass
class EvaluationReport:
    """What `evaluate` measured, with the protocol that says how and the time it took."""

    forget_class: int
    forget_class_name: str
    class_names: list[str]
    forgetting: ForgettingScores
    remain_accuracy: dict[int, float]
    fid: dict[str, float]  # backend -> FID of remaining-class samples vs real images of those classes
    domain_fd: float | None  # Frechet distance on classifier features: *not* Inception FID
    protocol: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def remain_accuracy_mean(self) -> float:
        return float(np.mean(list(self.remain_accuracy.values()))) if self.remain_accuracy else math.nan

    @property
    def remain_accuracy_worst(self) -> tuple[int, float]:
        worst = min(self.remain_accuracy, key=self.remain_accuracy.get)
        return worst, self.remain_accuracy[worst]

    def to_dict(self) -> dict[str, Any]:
        worst, worst_value = self.remain_accuracy_worst if self.remain_accuracy else (None, math.nan)
        return {
            "forget_class": self.forget_class,
            "forget_class_name": self.forget_class_name,
            **{k: v for k, v in asdict(self.forgetting).items() if k != "num_samples"},
            "num_forget_samples": self.forgetting.num_samples,
            "remain_accuracy_mean": self.remain_accuracy_mean,
            "remain_accuracy_worst": {"class": worst, "accuracy": worst_value},
            "remain_accuracy": {str(c): a for c, a in self.remain_accuracy.items()},
            "fid": dict(self.fid),
            "domain_fd": None
            if self.domain_fd is None
            else {"value": self.domain_fd, "label": ClassifierFeatures.label},
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "protocol": self.protocol,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the report as JSON, atomically."""
        write_json(path, self.to_dict())

    def table(self) -> str:
        """A plain-text table of the results and timings."""
        fc, name = self.forget_class, self.forget_class_name
        ref = self.protocol.get("reference", {})
        rows = [
            ("forgetting accuracy (FA)", f"{self.forgetting.forgetting_accuracy:.4f}"),
            ("  FA, papers' protocol (arg-max over K classes)", f"{self.forgetting.papers_forgetting_accuracy:.4f}"),
            ("  rejected (none of these)", f"{self.forgetting.rejected:.4f}"),
            ("  drawn as", drawn_as_text(self.forgetting.drawn_as, self.class_names)),
            ("  samples of the forgotten class", str(self.forgetting.num_samples)),
            ("  mean entropy (nats)", f"{self.forgetting.mean_entropy:.4f}"),
            (f"  mean p(class {fc})", f"{self.forgetting.mean_forget_probability:.4f}"),
            ("remaining-class accuracy (RA), mean", f"{self.remain_accuracy_mean:.4f}"),
        ]
        if self.remain_accuracy:
            worst, value = self.remain_accuracy_worst
            rows.append(("  worst class", f"{value:.4f} ({worst} {self.class_names[worst]})"))
        for c, accuracy in self.remain_accuracy.items():
            rows.append((f"  class {c} ({self.class_names[c]})", f"{accuracy:.4f}"))
        for backend, value in self.fid.items():
            rows.append((f"FID [{backend}]", f"{value:.3f}"))
        if self.fid:
            rows.append(
                (
                    "  samples vs reference images",
                    f"{self.protocol.get('num_fid_samples')} vs {ref.get('num_images')} "
                    f"({ref.get('statistics') or str(ref.get('dataset')) + ' ' + str(ref.get('split'))})",
                )
            )
        if self.domain_fd is not None:
            rows.append((f"FD [{ClassifierFeatures.label}]", f"{self.domain_fd:.4f}"))
        timing = ", ".join(f"{k} {v:.1f}" for k, v in self.timings_s.items())
        rows.append(("time (s)", timing))
        width = max(len(label) for label, _ in rows)
        header = f"evaluation: forget class {fc} ({name})"
        return "\n".join([header, "-" * len(header), *(f"{label:<{width}}  {value}" for label, value in rows)])


def chosen_remain_classes(num_classes: int, forget_id: int, k: int | None, seed: int) -> list[int]:
    """All remaining classes, or a seeded choice of `k` of them (sorted)."""
    others = [c for c in range(num_classes) if c != forget_id]
    if k is None or k >= len(others):
        return others
    if k < 1:
        raise ValueError(f"--remain-classes must be at least 1, got {k}")
    order = torch.randperm(len(others), generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(others[i] for i in order[:k])


def drawn_as_text(drawn_as: dict[str, float], class_names: Sequence[str], top: int = 4) -> str:
    """The classes the forgotten class's samples were put in, most often first: "none 0.92, 8 (eight) 0.05"."""
    ranked = sorted(drawn_as.items(), key=lambda item: -item[1])[:top]
    return ", ".join(
        f"{name} {share:.2f}" if name == "none" else f"{name} ({class_names[int(name)]}) {share:.2f}"
        for name, share in ranked
    )


def resolve_classifier(
    classifier: str | os.PathLike | torch.nn.Module | None, device: torch.device, pipeline: ClassConditionalPipeline
) -> tuple:
    """A classifier module and its name: a module as is, a TorchScript file, a shipped name or a saved
    directory, or the default."""
    if isinstance(classifier, torch.nn.Module):
        return classifier.to(device).eval(), type(classifier).__name__
    name = str(classifier or DEFAULT_CLASSIFIER)
    if Path(name).is_file():
        return ScriptedClassifier.load(name, pipeline.image_shape, pipeline.num_classes).to(device), name
    return load_classifier(name, device=device), name


def folder_reference(
    root: str | os.PathLike, pipeline: ClassConditionalPipeline, classes: Sequence[int], per_class: int | None
) -> LabeledImages:
    """Reference images of `classes` from an image folder (at the pipeline's image shape), read once.

    Only the classes asked for are read (and at most `per_class` of each): with `--remain-classes` and
    `--reference-per-class` a 1000-class folder costs what is evaluated, not the whole dataset.
    """
    folder = ImageFolder(root, pipeline.image_shape, pipeline.labels, pipeline.num_classes)
    wanted = [c for c in classes if c in folder.folders]
    if not wanted:
        raise ValueError(
            f"the reference folder {root} has none of the remaining classes: its folders are classes "
            f"{', '.join(map(str, sorted(folder.folders)[:10]))}{', ...' if len(folder.folders) > 10 else ''}"
        )
    indices = []
    for c in wanted:
        of_class = np.flatnonzero(folder.labels == c)
        indices.extend(of_class[:per_class] if per_class is not None else of_class)
    images = torch.stack([folder[int(i)][0] for i in indices])
    labels = torch.as_tensor(folder.labels[indices])
    return LabeledImages(f"imagefolder:{folder.root.name}", images, labels, list(pipeline.class_names))


def check_classifier_fits(classifier: torch.nn.Module, name: str, pipeline: ClassConditionalPipeline) -> None:
    config = getattr(classifier, "config", None)
    num_classes = getattr(config, "num_classes", None) if config is not None else None
    if num_classes is not None and num_classes != pipeline.num_classes:
        raise ValueError(
            f"the classifier {name} has {num_classes} classes but the pipeline has {pipeline.num_classes}: "
            "pass a classifier trained on the pipeline's data (--classifier PATH)"
        )


def select_reference(
    data: LabeledImages, classes: Sequence[int], per_class: int | None = None
) -> tuple[torch.Tensor, dict[int, int]]:
    """Real images of `classes` (uint8 NCHW): all of them, or the first `per_class` of each in dataset order."""
    indices, counts = [], {}
    for c in classes:
        of_class = torch.nonzero(data.labels == c).flatten()
        if per_class is not None:
            of_class = of_class[:per_class]
        if not len(of_class):
            raise ValueError(f"the reference data ({data.name}) has no image of class {c}")
        indices.append(of_class)
        counts[int(c)] = len(of_class)
    return data.images[torch.cat(indices)], counts


def evaluate(
    pipeline: ClassConditionalPipeline,
    forget_class: int | str,
    num_samples: int = DEFAULT_NUM_SAMPLES,
    *,
    classifier: str | os.PathLike | torch.nn.Module | None = None,
    dataset: str = "mnist",
    data_root: str | os.PathLike | None = None,
    reference: LabeledImages | None = None,
    reference_stats: str | os.PathLike | None = None,
    reference_split: str = "test",
    reference_per_class: int | None = None,
    remain_classes: int | None = None,
    fid_backends: Sequence[str] = BACKENDS,
    inception: str | os.PathLike | InceptionNetwork | None = None,
    resize: str = DEFAULT_RESIZE,
    domain_fid: bool = False,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    seed: int = 0,
    batch_size: int = 250,
    feature_batch_size: int = 50,
    samples_dir: str | os.PathLike | None = None,
    pipeline_name: str | None = None,
    progress: bool = True,
) -> EvaluationReport:
    """Measure forgetting and what remains, and record the protocol.

    Args:
        num_samples: samples per class (the forgotten class and each remaining class).
        classifier: judges the samples: a module, a shipped name or a saved `SmallCNN` directory
            (default: the shipped MNIST classifier).
        dataset, data_root, reference_split, reference_per_class: the real images FID compares with
            (all images of the remaining classes in the split, or the first `reference_per_class` of each);
            `reference` gives them directly instead (for data that `load_dataset` does not know).
        reference_stats: precomputed Inception statistics of the real images instead (an `.npz` with `mu`
            and `sigma`, such as ADM's ImageNet reference batches); the same for every backend.
        remain_classes: evaluate K of the remaining classes, a seeded choice recorded in the protocol
            (for many-class pipelines: 1000 ImageNet classes × `num_samples` is rarely affordable).
        fid_backends: any of "torch-fidelity", "clean-fid" (each extracts its own features); empty for no FID.
        inception: the FID Inception TorchScript file (or a loaded `InceptionNetwork`); default
            `$GEN_UNLEARN_INCEPTION`, else clean-fid's download.
        resize: how images are brought to 299 × 299 ("pil-bicubic" or "tf1-bilinear"); a loaded
            `InceptionNetwork` carries its own.
        domain_fid: also a Frechet distance on the classifier's penultimate features (not Inception FID).
        samples_dir: if given, every sample is also written there as PNG.
    """
    start = time.time()
    timings: dict[str, float] = {}
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    backends_wanted = check_backends(list(fid_backends))
    forget_id = pipeline.class_id(forget_class)
    remain_ids = chosen_remain_classes(pipeline.num_classes, forget_id, remain_classes, seed)
    device = pipeline._execution_device
    if backends_wanted and num_samples * len(remain_ids) < 2:
        raise ValueError("FID needs at least 2 samples of the remaining classes: raise num_samples")

    # Everything that can fail on user input fails here, before minutes of sampling.
    t0 = time.time()
    model, classifier_name = resolve_classifier(classifier, device, pipeline)
    check_classifier_fits(model, classifier_name, pipeline)
    given_stats = None
    if reference_stats is not None:
        if domain_fid:
            raise ValueError("the classifier-feature distance needs reference images, not Inception statistics")
        given_stats = FeatureStatistics.load_reference(reference_stats)
    network = None
    if backends_wanted:
        network = inception if isinstance(inception, InceptionNetwork) else InceptionNetwork(inception, resize)
        network.to(device)
    needs_reference = (bool(backends_wanted) and given_stats is None) or domain_fid
    reference_images, reference_counts, reference_info = None, {}, {}
    if given_stats is not None:
        reference_info = {
            "statistics": str(reference_stats),
            "sha256": sha256_file(reference_stats),
            "num_images": given_stats.num if given_stats.num >= 0 else "not stated in the file",
            "classes": "as the statistics were made (all of the dataset, for ADM's and clean-fid's files)",
        }
    if needs_reference:
        if reference is None and dataset == "imagefolder":
            if data_root is None:
                raise ValueError("--dataset imagefolder needs --data-root DIR: a folder with one sub-folder per class")
            reference, split = folder_reference(data_root, pipeline, remain_ids, reference_per_class), "folder"
        elif reference is None:
            reference = load_dataset(dataset, data_root, train=reference_split == "train")
            split = reference_split
        else:
            split = "given"
        if reference.num_classes != pipeline.num_classes:
            raise ValueError(
                f"the reference data {reference.name} has {reference.num_classes} classes but the pipeline has "
                f"{pipeline.num_classes}: pass the pipeline's dataset (--dataset)"
            )
        reference_images, reference_counts = select_reference(reference, remain_ids, reference_per_class)
        reference_info = {
            "dataset": reference.name,
            "split": split,
            "classes": remain_ids,
            "num_images": len(reference_images),
            "per_class": {str(c): n for c, n in reference_counts.items()},
            "selection": "all images of the class" if reference_per_class is None else "first N of each class",
            "images_sha256": images_sha256(reference_images),
        }
    timings["setup"] = time.time() - t0

    t0 = time.time()
    images, labels = sample_images(
        pipeline,
        [forget_id, *remain_ids],
        num_samples,
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
        desc="sampling",
    )
    timings["sampling"] = time.time() - t0
    if samples_dir is not None:
        save_samples(images, labels, samples_dir)

    t0 = time.time()
    probabilities = classify(model, images)
    is_forget = torch.from_numpy(labels == forget_id)
    forgetting = forgetting_scores(probabilities[is_forget], forget_id, rejects(model))
    remain_mask = ~is_forget
    remain_accuracy = class_accuracy(probabilities[remain_mask], labels[remain_mask.numpy()]).per_class
    timings["classify"] = time.time() - t0

    remain_images = images[remain_mask.numpy()]
    if reference_images is not None:
        made, real = tuple(remain_images.shape[1:]), tuple(reference_images.permute(0, 2, 3, 1).shape[1:])
        if made != real:
            raise ValueError(
                f"the pipeline makes {'×'.join(map(str, made))} (HWC) images but the reference images are "
                f"{'×'.join(map(str, real))}: pass the pipeline's own dataset (--dataset)"
            )

    fid: dict[str, float] = {}
    fid_protocol: dict[str, Any] = {}
    cache_files: dict[str, Any] = {}
    timings["features"] = timings["reference_features"] = timings["fid"] = 0.0
    all_backends = [make_backend(name, network) for name in backends_wanted]
    domain_value = None
    if domain_fid:
        all_backends.append(DomainBackend(ClassifierFeatures(model, classifier_name)))
    for backend in all_backends:
        samples_stats = image_statistics(backend, remain_images, feature_batch_size, progress)
        if given_stats is not None and not isinstance(backend, DomainBackend):
            made = samples_stats.stats  # torch-fidelity wants the two sets in the same dtypes
            given = FeatureStatistics(
                given_stats.mu.astype(made.mu.dtype), given_stats.sigma.astype(made.sigma.dtype), given_stats.num
            )
            ref = StatisticsResult(given, 0.0, cached=True, cache_file=str(reference_stats))
        else:
            ref = cached_reference_statistics(
                backend, reference_images, reference_info, batch_size=feature_batch_size, progress=progress
            )
        t0 = time.time()
        value = backend.frechet(samples_stats.stats, ref.stats)
        frechet_s = time.time() - t0
        timings["features"] += samples_stats.features_s
        timings["reference_features"] += ref.features_s
        timings["fid"] += frechet_s
        cache_files[backend.name] = {"file": ref.cache_file, "was_cached": ref.cached}
        fid_protocol[backend.name] = {
            **backend.protocol(),
            "timings_s": {
                "sample_features": round(samples_stats.features_s, 3),
                "reference_features": round(ref.features_s, 3),
                "frechet": round(frechet_s, 3),
            },
        }
        if isinstance(backend, DomainBackend):
            domain_value = value
        else:
            fid[backend.name] = value
    timings["total"] = time.time() - start

    steps = int(num_inference_steps or pipeline.config.get("default_num_inference_steps", 50))
    guidance = float(pipeline.config.get("default_guidance_scale", 1.0) if guidance_scale is None else guidance_scale)
    protocol = {
        "metric": "FA on samples of the forgotten class; FID of remaining-class samples vs real images of them",
        "pipeline": {
            "name": pipeline_name,
            "class": type(pipeline).__name__,
            "sha256": fingerprint_pipeline(pipeline),
        },
        "sampler": type(pipeline.scheduler).__name__,
        "sampler_config": {k: v for k, v in dict(pipeline.scheduler.config).items() if not k.startswith("_")},
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "seed": seed,
        "seeding": "sample j of class c has its own generator seeded by (seed, c, j)",
        "num_samples_per_class": num_samples,
        "remain_classes": {
            "evaluated": remain_ids,
            "of": pipeline.num_classes - 1,
            "selection": "all" if len(remain_ids) == pipeline.num_classes - 1 else f"seeded choice (seed {seed})",
        },
        "num_forget_samples": forgetting.num_samples,
        "num_fid_samples": len(remain_images),
        "classifier": {"name": classifier_name, "sha256": module_sha256(model), "reject_output": rejects(model)},
        "fid": fid_protocol,
        "reference": {**reference_info, "cache": cache_files} if reference_info else None,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "versions": library_versions(),
        "wall_time_s": round(timings["total"], 3),
    }
    return EvaluationReport(
        forget_class=forget_id,
        forget_class_name=pipeline.class_names[forget_id],
        class_names=list(pipeline.class_names),
        forgetting=forgetting,
        remain_accuracy=remain_accuracy,
        fid=fid,
        domain_fd=domain_value,
        protocol=protocol,
        timings_s=timings,
    )


__all__ = [
    "DEFAULT_NUM_SAMPLES",
    "EvaluationReport",
    "ForgettingScores",
    "evaluate",
    "forgetting_scores",
    "select_reference",
]
