"""The model cards' figures, at full size: run with scripts/run_slow_tests.sh (about 5 minutes on 2 CPU cores)."""

from __future__ import annotations

import pytest

from gen_unlearn import load_pipeline, sample_images
from gen_unlearn.evaluation.accuracy import class_accuracy, classify
from gen_unlearn.hub import SHIPPED_PIPELINES, load_classifier


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_PIPELINES)
def test_every_class_at_least_97_percent_of_100_samples(name: str) -> None:
    pipe = load_pipeline(name)
    images, labels = sample_images(pipe, range(10), 100, seed=0, progress=False)
    accuracy = class_accuracy(classify(load_classifier("mnist-classifier"), images), labels)
    assert min(accuracy.per_class.values()) >= 0.97, accuracy.per_class
