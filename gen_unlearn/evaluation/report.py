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
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch

from pipelines import ClassConditionalPipeline

from ..classifier import rejects
from ..data import LabeledImages, class_ids, dataset_of, load_dataset
from ..images import ImageFolder
from ..io import fingerprint_pipeline, library_versions, sha256_file, tensor_sha256, write_json
from ..sampling import sample_images, save_samples
from ..tables import format_table
from .accuracy import class_accuracy, classify
from .classifiers import classifier_record, resolve_classifier
from .features import DEFAULT_RESIZE, ClassifierFeatures, InceptionNetwork
from .fid import (
    BACKENDS,
    Backend,
    DomainBackend,
    FeatureSets,
    FeatureStatistics,
    StatisticsResult,
    check_backends,
    make_backend,
)
from .fid import reference_statistics as cached_reference_statistics

DEFAULT_NUM_SAMPLES = 1000


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


def pooled_scores(scores: Sequence[ForgettingScores]) -> ForgettingScores:
    """The scores of several forgotten classes' samples taken together (each judged against its own class)."""
    if len(scores) == 1:
        return scores[0]
    n = sum(s.num_samples for s in scores)

    def mean(name: str) -> float:
        return sum(getattr(s, name) * s.num_samples for s in scores) / n

    drawn: dict[str, float] = {}
    for s in scores:
        for name, share in s.drawn_as.items():
            drawn[name] = drawn.get(name, 0.0) + share * s.num_samples / n
    names = ("forgetting_accuracy", "mean_entropy", "mean_forget_probability", "papers_forgetting_accuracy")
    return ForgettingScores(**{k: mean(k) for k in names}, num_samples=n, rejected=mean("rejected"), drawn_as=drawn)


@dataclass
class EvaluationReport:
    """What `evaluate` measured, with the protocol that says how and the time it took."""

    forget_class: int | list[int]  # a list when several classes were erased at once
    forget_class_name: str
    class_names: list[str]
    forgetting: ForgettingScores  # of all forgotten classes' samples together
    remain_accuracy: dict[int, float]
    fid: dict[str, float]  # backend -> FID of remaining-class samples vs real images of those classes
    domain_fd: float | None  # Frechet distance on classifier features: *not* Inception FID
    protocol: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)
    forgetting_per_class: dict[int, ForgettingScores] = field(default_factory=dict)

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
            "class_names": list(self.class_names),
            **{k: v for k, v in asdict(self.forgetting).items() if k != "num_samples"},
            "num_forget_samples": self.forgetting.num_samples,
            "forgetting_per_class": {str(c): asdict(f) for c, f in self.forgetting_per_class.items()},
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationReport:
        """The report `to_dict` wrote (how a bench reads back the evaluations an interrupted run kept)."""
        names = [f.name for f in fields(ForgettingScores) if f.name != "num_samples"]
        domain_fd = data.get("domain_fd")
        return cls(
            forget_class=data["forget_class"],
            forget_class_name=data["forget_class_name"],
            class_names=list(data["class_names"]),
            forgetting=ForgettingScores(**{k: data[k] for k in names}, num_samples=data["num_forget_samples"]),
            remain_accuracy={int(c): a for c, a in data["remain_accuracy"].items()},
            fid=dict(data["fid"]),
            domain_fd=None if domain_fd is None else domain_fd["value"],
            protocol=data["protocol"],
            timings_s=dict(data["timings_s"]),
            forgetting_per_class={
                int(c): ForgettingScores(**f) for c, f in data.get("forgetting_per_class", {}).items()
            },
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the report as JSON, atomically."""
        write_json(path, self.to_dict())

    def table(self) -> str:
        """A plain-text table of the results and timings."""
        fc, name = self.forget_class, self.forget_class_name
        ref = self.protocol.get("reference", {})
        rows = [
            ("forgetting accuracy (FA)", f"{self.forgetting.forgetting_accuracy:.4f}"),
            *(
                (f"  FA, class {c} ({self.class_names[c]})", f"{f.forgetting_accuracy:.4f}")
                for c, f in self.forgetting_per_class.items()
                if len(self.forgetting_per_class) > 1
            ),
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
        return format_table(None, rows, title=f"evaluation: forget class {fc} ({name})")


def chosen_remain_classes(num_classes: int, forget_ids: int | Sequence[int], k: int | None, seed: int) -> list[int]:
    """All remaining classes, or a seeded choice of `k` of them (sorted)."""
    forgotten = {forget_ids} if isinstance(forget_ids, int) else set(forget_ids)
    others = [c for c in range(num_classes) if c not in forgotten]
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


@dataclass
class Reference:
    """What FID compares with: real images of the evaluated classes, or given statistics, and their record."""

    images: torch.Tensor | None = None
    stats: FeatureStatistics | None = None
    stats_file: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def given_statistics(path: str | os.PathLike) -> Reference:
    stats = FeatureStatistics.load_reference(path)
    info = {
        "statistics": str(path),
        "sha256": sha256_file(path),
        "num_images": stats.num if stats.num >= 0 else "not stated in the file",
        "classes": "as the statistics were made (all of the dataset, for ADM's and clean-fid's files)",
    }
    return Reference(stats=stats, stats_file=str(path), info=info)


def reference_images(
    pipeline: ClassConditionalPipeline,
    classes: list[int],
    dataset: str,
    data_root: str | os.PathLike | None,
    reference: LabeledImages | None,
    split: str,
    per_class: int | None,
) -> Reference:
    """Real images of `classes`: given, from an image folder, or from a torchvision dataset's split."""
    if reference is not None:
        where = "given"
    elif dataset == "imagefolder":
        if data_root is None:
            raise ValueError("--dataset imagefolder needs --data-root DIR: a folder with one sub-folder per class")
        reference, where = folder_reference(data_root, pipeline, classes, per_class), "folder"
    else:
        reference, where = load_dataset(dataset, data_root, train=split == "train"), split
    if reference.num_classes != pipeline.num_classes:
        raise ValueError(
            f"the reference data {reference.name} has {reference.num_classes} classes but the pipeline has "
            f"{pipeline.num_classes}: pass the pipeline's dataset (--dataset)"
        )
    images, counts = select_reference(reference, classes, per_class)
    made, real = tuple(pipeline.image_shape), tuple(images.shape[1:])
    if made != real:
        raise ValueError(
            f"the pipeline makes {'×'.join(map(str, made))} (CHW) images but the reference images are "
            f"{'×'.join(map(str, real))}: pass the pipeline's own dataset (--dataset)"
        )
    info = {
        "dataset": reference.name,
        "split": where,
        "classes": classes,
        "num_images": len(images),
        "per_class": {str(c): n for c, n in counts.items()},
        "selection": "all images of the class" if per_class is None else "first N of each class",
        "images_sha256": tensor_sha256(images),
    }
    return Reference(images=images, info=info)


@dataclass
class FIDResult:
    fid: dict[str, float] = field(default_factory=dict)
    domain_fd: float | None = None
    protocol: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FID_PHASES, 0.0))


FID_PHASES = ("features", "reference_features", "fid")


def fid_scores(
    backends: list[Backend], samples: torch.Tensor, reference: Reference, batch_size: int, progress: bool
) -> FIDResult:
    """Every backend's Frechet distance of `samples` (uint8 NCHW) against the reference, timed per phase.

    Features are extracted once per extraction path (`FeatureSets`): the default backends share one pass.
    """
    features, result = FeatureSets(batch_size, progress), FIDResult()
    for backend in backends:
        made = features.statistics(backend, samples, "samples")
        if reference.stats is not None and not isinstance(backend, DomainBackend):
            given, mine = reference.stats, made.stats  # torch-fidelity wants the two in the same dtypes
            given = FeatureStatistics(given.mu.astype(mine.mu.dtype), given.sigma.astype(mine.sigma.dtype), given.num)
            ref = StatisticsResult(given, 0.0, cached=True, cache_file=reference.stats_file)
        else:
            ref = cached_reference_statistics(backend, reference.images, reference.info, features=features)
        t0 = time.time()
        value = backend.frechet(made.stats, ref.stats)
        seconds = {"features": made.features_s, "reference_features": ref.features_s, "fid": time.time() - t0}
        for phase, s in seconds.items():
            result.timings[phase] += s
        result.cache[backend.name] = {"file": ref.cache_file, "was_cached": ref.cached}
        record = dict(zip(("sample_features", "reference_features", "frechet"), seconds.values(), strict=True))
        result.protocol[backend.name] = {**backend.protocol(), "timings_s": {k: round(v, 3) for k, v in record.items()}}
        if isinstance(backend, DomainBackend):
            result.domain_fd = value
        else:
            result.fid[backend.name] = value
    return result


def evaluate(
    pipeline: ClassConditionalPipeline,
    forget_class: int | str | Sequence[int | str],
    num_samples: int = DEFAULT_NUM_SAMPLES,
    *,
    classifier: str | os.PathLike | torch.nn.Module | None = None,
    class_map: str | os.PathLike | dict | None = None,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    reference: LabeledImages | None = None,
    reference_stats: str | os.PathLike | None = None,
    reference_split: str = "test",
    reference_per_class: int | None = None,
    remain_classes: int | None = None,
    fid_backends: Sequence[str] = BACKENDS,
    fid_features: str = "shared",
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
        classifier: judges the samples: a module, a shipped name, a saved `SmallCNN` directory, a TorchScript
            file or `torchvision:<model>[:<weights>]` (default: the shipped MNIST classifier).
        class_map: for a classifier whose classes are not the pipeline's: {pipeline class: classifier indices}
            (a dict or a JSON file); its unmapped classes count as "none of these".
        dataset, data_root, reference_split, reference_per_class: the real images FID compares with
            (all images of the remaining classes in the split, or the first `reference_per_class` of each);
            `reference` gives them directly instead (for data that `load_dataset` does not know).
        reference_stats: precomputed Inception statistics of the real images instead (an `.npz` with `mu`
            and `sigma`, such as ADM's ImageNet reference batches); the same for every backend.
        remain_classes: evaluate K of the remaining classes, a seeded choice recorded in the protocol
            (for many-class pipelines: 1000 ImageNet classes × `num_samples` is rarely affordable).
        fid_backends: any of "torch-fidelity", "clean-fid"; empty for no FID.
        fid_features: "shared" (one batched Inception pass whose features both backends use) or "separate"
            (each backend extracts through its own pipeline: the cross-check).
        inception: the FID Inception TorchScript file (or a loaded `InceptionNetwork`); default
            `$GEN_UNLEARN_INCEPTION`, else clean-fid's download.
        resize: how images are brought to 299 × 299 ("pil-bicubic" or "tf1-bilinear"); a loaded
            `InceptionNetwork` carries its own.
        domain_fid: also a Frechet distance on the classifier's penultimate features (not Inception FID).
        samples_dir: if given, every sample is also written there as PNG.
    """
    start, timings = time.time(), {}
    forget_ids = class_ids(pipeline, forget_class)
    remain_ids = chosen_remain_classes(pipeline.num_classes, forget_ids, remain_classes, seed)
    device = pipeline._execution_device

    # Everything that can fail on user input fails here, before minutes of sampling.
    t0 = time.time()
    wanted = check_inputs(num_samples, len(remain_ids), fid_backends, fid_features, reference_stats, domain_fid)
    ref = given_statistics(reference_stats) if reference_stats is not None else Reference()
    model, classifier_name = resolve_classifier(classifier, device, pipeline, class_map)
    backends: list[Backend] = []
    if wanted:
        network = inception if isinstance(inception, InceptionNetwork) else InceptionNetwork(inception, resize)
        backends = [make_backend(name, network.to(device), fid_features == "shared") for name in wanted]
    if domain_fid:
        backends.append(DomainBackend(ClassifierFeatures(model, classifier_name)))
    if domain_fid or (wanted and reference_stats is None):
        dataset = dataset_of(pipeline, dataset)
        ref = reference_images(
            pipeline, remain_ids, dataset, data_root, reference, reference_split, reference_per_class
        )
    timings["setup"] = time.time() - t0

    t0 = time.time()
    images, labels = sample_images(
        pipeline,
        [*forget_ids, *remain_ids],
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
    is_forget = np.isin(labels, forget_ids)
    per_class = {
        c: forgetting_scores(probabilities[torch.from_numpy(labels == c)], c, rejects(model)) for c in forget_ids
    }
    forgetting = pooled_scores(list(per_class.values()))
    remain_accuracy = class_accuracy(probabilities[torch.from_numpy(~is_forget)], labels[~is_forget]).per_class
    timings["classify"] = time.time() - t0

    remain_images = torch.from_numpy(images[~is_forget]).permute(0, 3, 1, 2)
    scores = fid_scores(backends, remain_images, ref, feature_batch_size, progress)
    timings.update(scores.timings)
    timings["total"] = time.time() - start

    settings = {"num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale, "seed": seed}
    protocol = protocol_record(pipeline, pipeline_name, settings, num_samples, remain_ids)
    protocol.update(
        {
            "num_forget_samples": forgetting.num_samples,
            "num_fid_samples": len(remain_images),
            "classifier": classifier_record(model, classifier_name),
            "fid": scores.protocol,
            "reference": {**ref.info, "cache": scores.cache} if ref.info else None,
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "versions": library_versions(),
            "wall_time_s": round(timings["total"], 3),
        }
    )
    return EvaluationReport(
        forget_class=forget_ids[0] if len(forget_ids) == 1 else list(forget_ids),
        forget_class_name=" + ".join(pipeline.class_names[c] for c in forget_ids),
        class_names=list(pipeline.class_names),
        forgetting=forgetting,
        remain_accuracy=remain_accuracy,
        fid=scores.fid,
        domain_fd=scores.domain_fd,
        protocol=protocol,
        timings_s=timings,
        forgetting_per_class=per_class,
    )


FID_FEATURES = ("shared", "separate")


def check_inputs(
    num_samples: int,
    num_remain: int,
    fid_backends: Sequence[str],
    fid_features: str,
    reference_stats: str | os.PathLike | None,
    domain_fid: bool,
) -> tuple[str, ...]:
    """The FID backends asked for, after the checks on `evaluate`'s arguments that need no files."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    if fid_features not in FID_FEATURES:
        raise ValueError(f"unknown fid_features {fid_features!r}: use one of {', '.join(FID_FEATURES)}")
    backends = check_backends(list(fid_backends))
    if backends and num_samples * num_remain < 2:
        raise ValueError("FID needs at least 2 samples of the remaining classes: raise num_samples")
    if reference_stats is not None and domain_fid:
        raise ValueError("the classifier-feature distance needs reference images, not Inception statistics")
    return backends


def protocol_record(
    pipeline: ClassConditionalPipeline,
    pipeline_name: str | None,
    settings: dict[str, Any],
    num_samples: int,
    remain_ids: list[int],
) -> dict[str, Any]:
    """The sampling half of the protocol: which pipeline, sampler, steps, guidance, seed and classes."""
    steps = settings["num_inference_steps"] or pipeline.config.get("default_num_inference_steps", 50)
    guidance = settings["guidance_scale"]
    guidance = pipeline.config.get("default_guidance_scale", 1.0) if guidance is None else guidance
    everything = len(remain_ids) == pipeline.num_classes - 1
    return {
        "metric": "FA on samples of the forgotten class; FID of remaining-class samples vs real images of them",
        "pipeline": {"name": pipeline_name, "class": type(pipeline).__name__, "sha256": fingerprint_pipeline(pipeline)},
        "sampler": type(pipeline.scheduler).__name__,
        "sampler_config": {k: v for k, v in dict(pipeline.scheduler.config).items() if not k.startswith("_")},
        "num_inference_steps": int(steps),
        "guidance_scale": float(guidance),
        "seed": settings["seed"],
        "seeding": "sample j of class c has its own generator seeded by (seed, c, j)",
        "num_samples_per_class": num_samples,
        "remain_classes": {
            "evaluated": remain_ids,
            "of": pipeline.num_classes - 1,
            "selection": "all" if everything else f"seeded choice (seed {settings['seed']})",
        },
    }


__all__ = [
    "DEFAULT_NUM_SAMPLES",
    "EvaluationReport",
    "ForgettingScores",
    "evaluate",
    "forgetting_scores",
    "select_reference",
]
