"""RT (retrain): train the same architecture from scratch on the remain set only, the gold standard."""

from __future__ import annotations

import copy
from dataclasses import asdict

from .base import ClassificationUnlearner, UnlearnResult
from .models import reinitialize
from .training import TrainConfig, train_classifier


class Retrain(ClassificationUnlearner):
    name = "retrain"
    Config = TrainConfig
    config: TrainConfig

    def run(self, progress: bool = False) -> UnlearnResult:
        model = reinitialize(copy.deepcopy(self.original), self.seed).to(self.device)
        result = train_classifier(model, self.splits.remain, self.config, self.seed, self.device, progress)
        return UnlearnResult(result.model, self.name, result.wall_time_s, asdict(self.config), result.history)
