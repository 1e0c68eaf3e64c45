"""The classification-unlearning API: unlearn a classifier, or run a whole experiment with its metrics.

    result = unlearn_classifier(model, "neggrad+", splits, beta=0.95)      # UnlearnResult (a new model)
    record = run_experiment("mnist", forget_class=3, method="sfron", seed=0)  # JSON-able dict

An experiment trains (or loads from the cache) the original model on D_f ∪ D_r and the retrained model
on D_r, unlearns the original with the method, and measures FA / RA / TA / MIA, the KL to the retrained
model on the forget set, the average gap to it and the wall times. Trained models are cached as
safetensors under `<cache_dir()>/classification/`, keyed by dataset, seed, architecture, training
settings and (for retrained models) the split, so that a benchmark trains each of them once.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..io import atomic_directory, cache_dir, library_versions, settings_key, tensor_sha256, write_json
from ..loop import default_device
from .base import UnlearnResult
from .metrics import DEFAULT_REMAIN_EVAL_SAMPLES, evaluate_classifier
from .models import build_classifier, default_architecture
from .registry import CLASSIFICATION_METHODS, classification_method_config, resolve_method
from .splits import DEFAULT_VALIDATION_SIZE, UnlearningSplits, load_splits
from .training import TrainConfig, train_classifier

CACHE_VERSION = 1  # bump when training changes in a way the settings key does not see


def unlearn_classifier(
    model: nn.Module,
    method: str,
    splits: UnlearningSplits,
    *,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
    **hyperparameters: Any,
) -> UnlearnResult:
    """Unlearn `splits.forget` from `model` with `method` (its defaults, overridden by `hyperparameters`).

    `model` is left as it was; the result holds the new model and the method's wall time.
    """
    name = resolve_method(method)
    config = classification_method_config(name, **hyperparameters)
    device = device or str(next(model.parameters()).device)
    return CLASSIFICATION_METHODS[name](model, splits, config, seed=seed, device=device).run(progress=progress)


# -- cached trained models ---------------------------------------------------------------------------


def _save_trained(path: Path, result: UnlearnResult, record: dict[str, Any]) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    with atomic_directory(path) as tmp:
        save_file(state, str(tmp / "model.safetensors"))
        write_json(tmp / "record.json", {**record, "wall_time_s": result.wall_time_s, "config": result.config})


def _load_trained(path: Path, model: nn.Module, device: str) -> UnlearnResult | None:
    weights, record_file = path / "model.safetensors", path / "record.json"
    if not (weights.exists() and record_file.exists()):
        return None
    model.load_state_dict(load_file(str(weights)))
    record = json.loads(record_file.read_text())
    return UnlearnResult(model.to(device).eval(), record["kind"], record["wall_time_s"], record["config"])


class ClassificationExperiment:
    """One forgetting task (dataset, split, seed): the original, the retrained model and any number of methods.

    Build it from splits (`ClassificationExperiment(splits)`) or load a dataset (`ClassificationExperiment.load`).
    The seed of the splits also seeds the models and the methods.
    """

    def __init__(
        self,
        splits: UnlearningSplits,
        *,
        train_config: TrainConfig | None = None,
        architecture: str | None = None,
        remain_eval_samples: int | None = DEFAULT_REMAIN_EVAL_SAMPLES,
        device: str | None = None,
        cache: bool = True,
        progress: bool = False,
    ):
        self.splits = splits
        self.dataset = splits.remain.name
        self.seed = splits.seed
        self.train_config = train_config or TrainConfig()
        self.architecture = architecture or default_architecture(self.dataset)
        self.remain_eval_samples = remain_eval_samples
        self.device = device or default_device()
        self.cache = cache
        self.progress = progress
        self._trained: dict[str, UnlearnResult] = {}
        self._metrics: dict[str, dict[str, float]] = {}

    @classmethod
    def load(
        cls,
        dataset: str,
        forget_class: int | None = None,
        forget_fraction: float | None = None,
        seed: int = 0,
        *,
        data_root: str | os.PathLike | None = None,
        validation_size: int = DEFAULT_VALIDATION_SIZE,
        **options: Any,
    ) -> ClassificationExperiment:
        """The experiment on a dataset read from the data root (`options` go to the constructor)."""
        return cls(load_splits(dataset, forget_class, forget_fraction, seed, data_root, validation_size), **options)

    def new_model(self) -> nn.Module:
        return build_classifier(self.architecture, self.splits.num_classes, self.splits.image_shape, self.seed)

    def _cache_path(self, kind: str) -> Path:
        trained_on = self.splits.train if kind == "original" else self.splits.remain
        settings = {
            "version": CACHE_VERSION,
            "architecture": self.architecture,
            "train": asdict(self.train_config),
            "seed": self.seed,
            "data": tensor_sha256(trained_on.images, trained_on.labels, name=trained_on.name),
        }
        name = f"{self.dataset}-{kind}" + (f"-{self.splits.setting}" if kind == "retrain" else "")
        return cache_dir() / "classification" / f"{name}-seed{self.seed}-{settings_key(**settings)}"

    def _trained_model(self, kind: str) -> UnlearnResult:
        if kind in self._trained:
            return self._trained[kind]
        path = self._cache_path(kind)
        result = _load_trained(path, self.new_model(), self.device) if self.cache else None
        if result is None:
            if kind == "original":
                model = self.new_model().to(self.device)
                trained = train_classifier(
                    model, self.splits.train, self.train_config, self.seed, self.device, self.progress
                )
                result = UnlearnResult(trained.model, "original", trained.wall_time_s, asdict(self.train_config))
            else:
                result = unlearn_classifier(
                    self.new_model(),
                    "retrain",
                    self.splits,
                    seed=self.seed,
                    device=self.device,
                    progress=self.progress,
                    **asdict(self.train_config),
                )
            if self.cache:
                record = {"kind": kind, "dataset": self.dataset, "split": self.splits.describe(), "seed": self.seed}
                _save_trained(path, result, {**record, "threads": torch.get_num_threads()})
        self._trained[kind] = result
        return result

    def original(self) -> UnlearnResult:
        """The model trained on D_f ∪ D_r (cached)."""
        return self._trained_model("original")

    def retrained(self) -> UnlearnResult:
        """The model trained on D_r only, the reference every method is compared to (cached)."""
        return self._trained_model("retrain")

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """FA, RA, TA, MIA, KL to the retrained model on D_f and the average gap to it."""
        if "retrain" not in self._metrics:
            self._metrics["retrain"] = evaluate_classifier(
                self.retrained().model, self.splits, remain_eval_samples=self.remain_eval_samples, seed=self.seed
            )
        return evaluate_classifier(
            model,
            self.splits,
            retrained=self.retrained().model,
            retrained_metrics=self._metrics["retrain"],
            remain_eval_samples=self.remain_eval_samples,
            seed=self.seed,
        )

    def run(self, method: str, **hyperparameters: Any) -> dict[str, Any]:
        """Unlearn with `method` ("original" and "retrain" allowed) and measure; a JSON-able record."""
        retrained = self.retrained()
        if method == "original":
            result, name = self.original(), "original"
            result = UnlearnResult(result.model, name, 0.0, result.config)
        else:
            name = resolve_method(method)
            if name == "retrain":
                if hyperparameters:
                    raise ValueError("retrain takes its settings from the training config, not from --set")
                result = retrained
            else:
                result = unlearn_classifier(
                    self.original().model,
                    name,
                    self.splits,
                    seed=self.seed,
                    device=self.device,
                    progress=self.progress,
                    **hyperparameters,
                )
        metrics = self.evaluate(result.model)
        return {
            "dataset": self.dataset,
            "setting": self.splits.setting,
            "method": name,
            "seed": self.seed,
            "architecture": self.architecture,
            "metrics": metrics,
            "wall_time_s": result.wall_time_s,
            "retrain_wall_time_s": retrained.wall_time_s,
            "time_vs_retrain": result.wall_time_s / retrained.wall_time_s,
            "config": result.config,
            "train_config": asdict(self.train_config),
            "splits": self.splits.describe(),
            "protocol": {
                "metrics": "percent; FA/RA/TA accuracy on forget/remain/test; MIA = share of forget samples an "
                "entropy logistic-regression attack (remain = member, test = non-member) calls members",
                "remain_eval_samples": self.remain_eval_samples,
                "kl_to_retrain": "mean over the forget set of KL(p_retrain || p_model)",
                "avg_gap": "mean |metric - retrain| over FA, RA, TA, MIA",
            },
            "device": self.device,
            "threads": torch.get_num_threads(),
            "versions": library_versions(),
        }


def run_experiment(
    dataset: str,
    forget_class: int | None = None,
    forget_fraction: float | None = None,
    method: str = "neggrad+",
    seed: int = 0,
    *,
    hyperparameters: dict[str, Any] | None = None,
    **experiment_options: Any,
) -> dict[str, Any]:
    """Train (or load) the original and the retrained model, unlearn with `method`, measure: a JSON-able record.

    `experiment_options` go to `ClassificationExperiment.load` (data_root, train_config, device, cache, ...).
    The record holds the method's metrics and those of the original and of the retrained model.
    """
    experiment = ClassificationExperiment.load(dataset, forget_class, forget_fraction, seed, **experiment_options)
    record = experiment.run(method, **(hyperparameters or {}))
    record["original_metrics"] = experiment.run("original")["metrics"] if method != "original" else record["metrics"]
    record["retrain_metrics"] = experiment.evaluate(experiment.retrained().model)
    return record
