"""The shipped reference models: they load offline by name and do what their model cards say (in small)."""

from __future__ import annotations

import json

import pytest
import torch

from gen_unlearn import load_classifier, load_dataset, load_pipeline, predict_proba, sample_images
from gen_unlearn.evaluation.accuracy import class_accuracy, classify
from gen_unlearn.hub import PRETRAINED_DIR, SHIPPED_CLASSIFIERS, SHIPPED_PIPELINES
from pipelines import ClassConditionalDDPMPipeline, ClassConditionalDiTPipeline


@pytest.mark.parametrize("name", [*SHIPPED_PIPELINES, *SHIPPED_CLASSIFIERS])
def test_shipped_model_has_safetensors_and_a_model_card(name: str) -> None:
    folder = PRETRAINED_DIR / name
    assert list(folder.rglob("*.safetensors")), f"{name} must ship safetensors weights"
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))
    card = (folder / "README.md").read_text()
    assert "Measured quality" in card and "wall time" in card.lower()
    quality = json.loads((folder / "quality.json").read_text())
    assert quality["meets_target"], f"{name} missed its quality target: {quality}"
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 20 * 2**20, f"{name} is {size / 2**20:.1f} MB: shipped models must stay small"


def test_shipped_pipelines_load_by_name() -> None:
    ddpm, dit = load_pipeline("mnist-ddpm"), load_pipeline("mnist-dit")
    assert isinstance(ddpm, ClassConditionalDDPMPipeline) and isinstance(dit, ClassConditionalDiTPipeline)
    for pipe in (ddpm, dit):
        assert pipe.num_classes == 10 and pipe.null_class_id == 10
        assert pipe.class_names[3] == "three" and pipe.class_id("seven") == 7


def test_shipped_classifier_accuracy_on_the_real_test_set(data_root) -> None:
    classifier = load_classifier("mnist-classifier")
    test = load_dataset("mnist", data_root, train=False)
    accuracy = (predict_proba(classifier, test.images).argmax(-1) == test.labels).float().mean().item()
    assert accuracy >= 0.99


@pytest.mark.parametrize("name", SHIPPED_PIPELINES)
def test_shipped_pipeline_draws_the_requested_digits(name: str) -> None:
    """A small version of the model-card measurement: 6 samples of each digit, default sampler."""
    torch.manual_seed(0)
    pipe = load_pipeline(name)
    images, labels = sample_images(pipe, range(10), 6, seed=123, progress=False)
    accuracy = class_accuracy(classify(load_classifier("mnist-classifier"), images), labels)
    assert accuracy.mean >= 0.9, accuracy.per_class
