"""The model cards' figures, at full size: run with scripts/run_slow_tests.sh (about 10 minutes on 2 CPU cores)."""

from __future__ import annotations

import json

import pytest

from gen_unlearn import load_pipeline, sample_images
from gen_unlearn.data import dataset_of
from gen_unlearn.evaluation.accuracy import class_accuracy, classify
from gen_unlearn.evaluation.classifiers import DEFAULT_CLASSIFIERS
from gen_unlearn.hub import PIPELINE_QUALITY_TARGETS, PRETRAINED_DIR, SHIPPED_PIPELINES, load_classifier


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_PIPELINES)
def test_every_class_meets_the_model_card_target_on_100_samples(name: str) -> None:
    pipe = load_pipeline(name)
    dataset = dataset_of(pipe)
    excluded = json.loads((PRETRAINED_DIR / name / "train.json").read_text()).get("excluded_classes", [])
    classes = [c for c in range(10) if c not in excluded]
    images, labels = sample_images(pipe, classes, 100, seed=0, progress=False)
    accuracy = class_accuracy(classify(load_classifier(DEFAULT_CLASSIFIERS[dataset]), images), labels)
    every, mean = PIPELINE_QUALITY_TARGETS[dataset]
    assert min(accuracy.per_class.values()) >= every and accuracy.mean >= mean, accuracy.per_class
