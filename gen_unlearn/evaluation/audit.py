"""`audit`: is an erased class gone, or only hidden? Leaks, relearning and memorisation, beside the original.

FA at the default guidance says little about what a user of the erased pipeline can still get out of it
(see DESIGN §6). The audit looks where erased concepts are known to hide:

- **Null-label leakage**: the share of unconditional samples judged as a forgotten class. At guidance 0,
  classifier-free guidance gives ε = ε(x, null) exactly, so these are the null label's own samples.
- **Guidance sweep**: FA at guidance 0, 1, 2, 4 and 8 (erasure is often tuned at one scale only).
- **Other-label leakage**: for each remaining label, the share of its samples judged as a forgotten class.
- **Relearning attack**: plain denoising fine-tuning on k real images of the class (Adam, no remain term);
  FA after each listed step, and the first listed step at which FA exceeds 50%. The same fine-tune of a model
  that never learnt the class (the retrained reference, when given) is the baseline an erased model should
  match: anything faster means the class was hidden, not removed.
- **Memorisation**: for every sample judged as a forgotten class, the RMS pixel distance to its nearest
  training image of that class, beside the same distance for real held-out images of the class (what a
  model that generalises, rather than copies, gives).

Every figure is measured on the erased pipeline and, beside it, the original (and the retrained reference).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from pipelines import ClassConditionalPipeline

from ..batches import mixed_seed
from ..data import DatasetNotFoundError, ForgetRemainSets, class_ids, dataset_of, load_dataset, real_forget_remain
from ..denoiser import DenoisingObjective
from ..erasure import training_copy
from ..images import ImageArray, LabeledImageDataset
from ..io import fingerprint_pipeline, library_versions, resumed, write_json
from ..loop import Trainer, TrainingConfig
from ..sampling import sample_counts
from ..tables import format_table
from .accuracy import classify
from .classifiers import classifier_record, resolve_classifier
from .report import chosen_remain_classes

logger = logging.getLogger(__name__)

RELEARNED = 0.5  # FA above which the class counts as relearnt
MAX_NEAREST = 10000  # training images of a class searched for the nearest one


@dataclass
class AuditConfig:
    num_samples: int = 100  # per class and setting
    guidance_scales: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0)
    relearn_images: tuple[int, ...] = (10, 100)  # k real images of the class
    relearn_steps: tuple[int, ...] = (10, 50, 100, 250)
    relearn_lr: float = 1e-4
    relearn_batch_size: int = 16
    relearn_samples: int = 50  # samples of the class judged at each listed step
    num_inference_steps: int | None = None  # the pipeline's default
    remain_classes: int | None = None  # other-label leakage on a seeded choice of K labels (default: all)
    seed: int = 0
    batch_size: int = 250
    progress: bool = True

    def __post_init__(self) -> None:
        counts = [self.num_samples, self.relearn_samples, *self.relearn_images, *self.relearn_steps]
        if min(counts) < 1:
            raise ValueError(
                "num_samples, relearn_images and relearn_steps must be at least 1 "
                "(--num-samples, --relearn-images, --relearn-steps)"
            )


@dataclass
class Judged:
    """The classifier's verdicts on samples (class index, or K for "none of these"), and the samples judged as a
    forgotten class (the only ones the memorisation check needs: the rest are not kept)."""

    labels: np.ndarray  # the label each was drawn with
    verdicts: np.ndarray
    kept: np.ndarray  # uint8 NHWC samples judged as a forgotten class
    kept_verdicts: np.ndarray

    def share_judged(self, classes: Sequence[int], drawn_with: int | None = None) -> float:
        chosen = self.verdicts if drawn_with is None else self.verdicts[self.labels == drawn_with]
        return float(np.isin(chosen, classes).mean()) if len(chosen) else float("nan")


def judge(
    pipeline: ClassConditionalPipeline,
    counts: dict[int, int],
    guidance: float | None,
    classifier: Any,
    config: AuditConfig,
    forget_ids: tuple[int, ...],
) -> Judged:
    images, labels = sample_counts(
        pipeline, counts, guidance, config.num_inference_steps, config.seed, config.batch_size, config.progress,
        desc=f"audit samples (guidance {guidance if guidance is not None else 'default'})",
    )  # fmt: skip
    verdicts = classify(classifier, images).argmax(-1).numpy() if len(images) else np.zeros(0, np.int64)
    forgotten = np.isin(verdicts, forget_ids)
    return Judged(labels, verdicts, images[forgotten], verdicts[forgotten])


def judge_in_groups(
    pipeline: ClassConditionalPipeline,
    classes: list[int],
    classifier: Any,
    config: AuditConfig,
    forget_ids: tuple[int, ...],
) -> Judged:
    """`judge` at the default guidance over many labels, a few batches' worth at a time (bounded memory)."""
    n, per_call = config.num_samples, max(1, 4 * config.batch_size // config.num_samples)
    groups = [classes[i : i + per_call] for i in range(0, len(classes), per_call)]
    parts = [judge(pipeline, dict.fromkeys(group, n), None, classifier, config, forget_ids) for group in groups]
    fields = ("labels", "verdicts", "kept", "kept_verdicts")
    return Judged(*(np.concatenate([getattr(part, name) for part in parts]) for name in fields))


def leakage(
    pipeline: ClassConditionalPipeline, forget_ids: tuple[int, ...], classifier: Any, config: AuditConfig
) -> tuple[dict[str, Any], list[Judged]]:
    """Null-label leakage, the guidance sweep and other-label leakage; with the samples, for memorisation."""
    n, judged = config.num_samples, []
    sweep: dict[str, dict[str, float]] = {}
    for scale in config.guidance_scales:
        samples = judge(pipeline, dict.fromkeys(forget_ids, n), scale, classifier, config, forget_ids)
        judged.append(samples)
        sweep[f"{scale:g}"] = {str(c): samples.share_judged([c], drawn_with=c) for c in forget_ids}
    null = judged[config.guidance_scales.index(0.0)] if 0.0 in config.guidance_scales else None
    if null is None:
        null = judge(pipeline, {forget_ids[0]: n}, 0.0, classifier, config, forget_ids)
    others = chosen_remain_classes(pipeline.num_classes, forget_ids, config.remain_classes, config.seed)
    other = judge_in_groups(pipeline, others, classifier, config, forget_ids)
    judged.append(other)
    per_label = {str(c): other.share_judged(forget_ids, drawn_with=c) for c in others}
    return {
        "null_label_leakage": null.share_judged(forget_ids),
        "guidance_sweep_fa": sweep,
        "other_label_leakage": other.share_judged(forget_ids),
        "other_label_leakage_worst": max(per_label.items(), key=lambda item: item[1]) if per_label else None,
        "other_label_leakage_per_label": per_label,
    }, judged


def relearn(
    pipeline: ClassConditionalPipeline,
    images: torch.Tensor,
    labels: torch.Tensor,
    forget_ids: tuple[int, ...],
    classifier: Any,
    config: AuditConfig,
) -> dict[str, Any]:
    """Fine-tune a copy on (images, labels) with the plain denoising loss; FA at each listed step."""
    steps = sorted(config.relearn_steps)
    trainer = Trainer(TrainingConfig(steps=steps[-1], batch_size=config.relearn_batch_size, seed=config.seed,
                                     progress=config.progress, device=str(pipeline._execution_device)))  # fmt: skip
    attacked = training_copy(pipeline, trainer.device)
    objective = DenoisingObjective(attacked)
    trainer.prepare(objective.trainable, torch.optim.Adam(objective.trainable.parameters(), lr=config.relearn_lr))
    objective.forward_module = trainer.model
    generator = torch.Generator().manual_seed(mixed_seed(config.seed, len(images), 11))
    relearn_config = AuditConfig(**{**asdict(config), "num_samples": config.relearn_samples, "progress": False})
    curve: dict[str, float] = {}

    def step(i: int) -> dict[str, float]:
        pick = torch.randint(len(images), (min(config.relearn_batch_size, len(images)),), generator=generator)
        x0 = objective.encode(images[pick].to(trainer.device).float() / 127.5 - 1.0, generator=generator)
        y = labels[pick].to(trainer.device)
        loss = trainer.optimizer_step(lambda: objective.loss(x0, y, generator=generator).mean())
        return {"loss": loss}

    def on_step(done: int, seconds: float) -> None:
        if done in steps:
            counts = dict.fromkeys(forget_ids, config.relearn_samples)
            samples = judge(attacked, counts, None, classifier, relearn_config, forget_ids)
            curve[str(done)] = samples.share_judged(forget_ids)

    trainer.run(step, desc=f"relearning attack on {len(images)} images", on_step=on_step)
    objective.forward_module = None
    first = next((int(s) for s, fa in curve.items() if fa > RELEARNED), None)
    return {"fa_after_steps": curve, "steps_to_fa_over_50": first, "num_images": len(images)}


def nearest_distances(samples: np.ndarray, train: torch.Tensor) -> np.ndarray:
    """RMS pixel distance (images in [0, 1]) of each uint8 NHWC sample to its nearest uint8 NCHW training image."""
    if not len(samples):
        return np.zeros(0)
    a = torch.from_numpy(samples).permute(0, 3, 1, 2).flatten(1).float() / 255
    nearest = torch.full((len(a),), float("inf"))
    for part in train.flatten(1).split(1024):  # 256×256 RGB: 0.8 GB of floats per 1024 training images
        b = part.float() / 255
        closest = torch.cat([torch.cdist(chunk, b).min(dim=1).values for chunk in a.split(256)])
        nearest = torch.minimum(nearest, closest)
    return (nearest / a.shape[1] ** 0.5).numpy()


def distribution(values: np.ndarray) -> dict[str, Any]:
    if not len(values):
        return {"count": 0}
    q = np.quantile(values, [0.0, 0.05, 0.25, 0.5, 0.75])
    return {"count": len(values), **dict(zip(("min", "p05", "p25", "median", "p75"), map(float, q), strict=True))}


@dataclass
class AuditReport:
    """The audit of an erased pipeline, each figure beside the original's (and the retrained reference's)."""

    forget_class: int | list[int]
    class_names: list[str]
    results: dict[str, dict[str, Any]]  # "erased", "original", "retrained" -> that pipeline's figures
    protocol: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"forget_class": self.forget_class, "results": self.results, "protocol": self.protocol}

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_dict())

    def table(self) -> str:
        """One row per figure, one column per pipeline (erased, original, retrained); shares in %."""
        columns, rows = figure_rows(self.results)
        return format_table(columns, rows, title=f"audit: forget class {self.forget_class}")


def figure_rows(results: dict[str, dict[str, Any]]) -> tuple[list[str], list[tuple]]:
    """The audit table's columns ("measure" and the pipelines) and rows, for text and HTML alike."""
    per_pipeline = {role: figures(result) for role, result in results.items()}
    labels = list(dict.fromkeys(label for f in per_pipeline.values() for label in f))
    return ["measure", *per_pipeline], [(label, *(f.get(label) for f in per_pipeline.values())) for label in labels]


def percent(value: float | None) -> float | None:
    return None if value is None or value != value else round(100 * value, 2)


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """One pipeline's audit as (label -> figure): the rows of the audit table."""
    leak = result["leakage"]
    worst = leak["other_label_leakage_worst"]
    out: dict[str, Any] = {
        "null-label leakage %": percent(leak["null_label_leakage"]),
        "other-label leakage %": percent(leak["other_label_leakage"]),
        "  worst label (label, %)": f"{worst[0]}, {percent(worst[1])}" if worst else None,
    }
    for scale, per_class in leak["guidance_sweep_fa"].items():
        for c, fa in per_class.items():
            out[f"FA % at guidance {scale}, class {c}"] = percent(fa)
    for k, attack in (result.get("relearning") or {}).items():
        for step, fa in attack["fa_after_steps"].items():
            out[f"relearn on {k} images: FA % after {step} steps"] = percent(fa)
        out[f"relearn on {k} images: first step with FA > 50%"] = attack["steps_to_fa_over_50"]
    for c, found in (result.get("memorisation") or {}).items():
        judged, real = found["samples_judged_as_class"], found.get("real_held_out_images", {})
        out[f"class {c}: samples judged as it"] = judged["count"]
        out[f"class {c}: median RMS distance to nearest training image"] = judged.get("median")
        out[f"class {c}: the same for real held-out images"] = real.get("median")
    return out


def class_images(images: LabeledImageDataset, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) as `images` streams them (at the pipeline's shape), and their labels."""
    items = [images[int(i)] for i in indices]
    if not items:
        return torch.zeros((0, *images.shape), dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
    return torch.stack([item[0] for item in items]), torch.as_tensor([int(item[1]) for item in items])


def attack_images(sets: ForgetRemainSets, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded choice of k real training images of the forgotten classes."""
    order = torch.randperm(len(sets.forget_indices), generator=torch.Generator().manual_seed(seed)).numpy()
    return class_images(sets.images, sets.forget_indices[order[:k]])


def real_references(
    pipeline: ClassConditionalPipeline, forget_ids: tuple[int, ...], dataset: str, data_root: str | os.PathLike | None
) -> tuple[ForgetRemainSets | None, LabeledImageDataset | None, str | None]:
    """The real training data (for the attack and the nearest images) and held-out images, or why they are missing."""
    try:
        sets = real_forget_remain(dataset, forget_ids, data_root, pipeline.image_shape, pipeline.labels,
                                  pipeline.num_classes)  # fmt: skip
    except (DatasetNotFoundError, FileNotFoundError, ValueError) as error:
        return None, None, f"not measured: no real images of the class ({str(error).splitlines()[0]})"
    held_out = None
    if dataset != "imagefolder":  # a folder has no held-out split
        test = load_dataset(dataset, data_root, train=False)
        held_out = ImageArray(test.images, test.labels, f"real:{test.name}:test").with_shape(pipeline.image_shape)
    return sets, held_out, None


def memorisation_of(
    judged: list[Judged], forget_ids: tuple[int, ...], sets: ForgetRemainSets, held_out: LabeledImageDataset | None
) -> dict[str, Any]:
    """Nearest-training-image distances of every sample judged as a forgotten class, and of real held-out ones."""
    out: dict[str, Any] = {}
    for c in forget_ids:
        of_class = sets.forget_indices[sets.images.labels[sets.forget_indices] == c][:MAX_NEAREST]
        train, _ = class_images(sets.images, of_class)
        samples = np.concatenate([j.kept[j.kept_verdicts == c] for j in judged])
        out[str(c)] = {"samples_judged_as_class": distribution(nearest_distances(samples, train))}
        if held_out is not None:
            real, _ = class_images(held_out, np.flatnonzero(held_out.labels == c)[:200])
            real = real.permute(0, 2, 3, 1).numpy()
            out[str(c)]["real_held_out_images"] = distribution(nearest_distances(real, train))
    return out


def audit_pipeline(
    pipeline: ClassConditionalPipeline,
    forget_ids: tuple[int, ...],
    classifier: Any,
    config: AuditConfig,
    sets: ForgetRemainSets | None,
    held_out: LabeledImageDataset | None,
) -> dict[str, Any]:
    """Every audit figure of one pipeline."""
    start = time.time()
    found, judged = leakage(pipeline, forget_ids, classifier, config)
    result: dict[str, Any] = {"leakage": found}
    if sets is not None:
        result["relearning"] = {}
        for k in config.relearn_images:
            images, labels = attack_images(sets, k, config.seed)
            result["relearning"][str(k)] = relearn(pipeline, images, labels, forget_ids, classifier, config)
        result["memorisation"] = memorisation_of(judged, forget_ids, sets, held_out)
    result["wall_time_s"] = round(time.time() - start, 1)
    return result


def audit(
    erased: ClassConditionalPipeline,
    forget_class: int | str | Sequence[int | str],
    original: ClassConditionalPipeline | None = None,
    retrained: ClassConditionalPipeline | None = None,
    *,
    classifier: str | os.PathLike | torch.nn.Module | None = None,
    class_map: str | os.PathLike | dict | None = None,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    config: AuditConfig | None = None,
    names: dict[str, str] | None = None,
    resume_dir: str | os.PathLike | None = None,
) -> AuditReport:
    """Audit `erased` for the forgotten class(es); the same figures for `original` and `retrained` beside it.

    Relearning and memorisation need real images of the class (`dataset` under `data_root`); without them
    those figures say "not measured" and the rest is still measured. With `resume_dir`, each pipeline's
    figures are kept there as soon as they are measured, and a rerun with the same pipelines, classes,
    classifier and settings reads them back instead of measuring them again (an interrupted audit resumes).
    """
    config = config or AuditConfig()
    forget_ids = class_ids(erased, forget_class)
    model, classifier_name = resolve_classifier(classifier, erased._execution_device, erased, class_map)
    dataset = dataset_of(erased, dataset)
    sets, held_out, missing = real_references(erased, forget_ids, dataset, data_root)
    pipelines = {"erased": erased, "original": original, "retrained": retrained}
    results, record = {}, classifier_record(model, classifier_name)
    settings = {k: v for k, v in asdict(config).items() if k != "progress"}
    for role, pipe in pipelines.items():
        if pipe is None:
            continue
        key = {"pipeline": fingerprint_pipeline(pipe), "forget": list(forget_ids), "config": settings,
               "classifier": record["sha256"], "real_images": missing or sets.source}  # fmt: skip
        results[role] = resumed(
            resume_dir, role, key, lambda pipe=pipe: audit_pipeline(pipe, forget_ids, model, config, sets, held_out)
        )
    protocol = {
        "config": asdict(config),
        "pipelines": {role: (names or {}).get(role, role) for role in results},
        "classifier": record,
        "relearning_and_memorisation": missing or f"real images: {sets.source}",
        "null_label": "guidance 0: classifier-free guidance gives ε(x, null) exactly",
        "relearned_when": f"FA > {RELEARNED:.0%} at a listed step",
        "distance": "RMS pixel distance on images in [0, 1] to the nearest training image of the class",
        "device": str(erased._execution_device),
        "versions": library_versions(),
    }
    forget = forget_ids[0] if len(forget_ids) == 1 else list(forget_ids)
    return AuditReport(forget, list(erased.class_names), results, protocol)
