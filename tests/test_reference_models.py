"""The shipped reference models: they load offline by name and do what their model cards say (in small)."""

from __future__ import annotations

import json

import pytest
import torch

from gen_unlearn import load_classifier, load_dataset, load_pipeline, predict_proba, sample_images
from gen_unlearn.classifier import rejects
from gen_unlearn.data import dataset_of
from gen_unlearn.evaluation.accuracy import class_accuracy, classify
from gen_unlearn.evaluation.classifiers import DEFAULT_CLASSIFIERS
from gen_unlearn.hub import PRETRAINED_DIR, RETRAINED_REFERENCES, SHIPPED_CLASSIFIERS, SHIPPED_PIPELINES
from gen_unlearn.negatives import synthetic_negatives
from pipelines import ClassConditionalDDPMPipeline, ClassConditionalDiTPipeline

NO_DATA_KINDS = ("uniform", "gaussian", "constant", "blobs", "strokes", "lattice")  # the kinds that need no dataset


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
    for name in [n for n in SHIPPED_PIPELINES if n.startswith("fashion-")]:
        pipe = load_pipeline(name)
        assert dataset_of(pipe) == "fashion-mnist" and pipe.class_id("Shirt") == 6 and pipe.null_class_id == 10


@pytest.mark.parametrize(("name", "original", "excluded"), [(n, *v) for n, v in RETRAINED_REFERENCES.items()])
def test_retrained_references_are_the_original_recipe_without_the_class(name: str, original: str, excluded: int):
    retrained, source = load_pipeline(name), load_pipeline(original)
    assert type(retrained) is type(source) and retrained.class_names == source.class_names

    def network(pipe):
        return {k: v for k, v in pipe.denoiser.config.items() if k != "_name_or_path"}

    assert network(retrained) == network(source), "the same network"
    train = json.loads((PRETRAINED_DIR / name / "train.json").read_text())
    source_train = json.loads((PRETRAINED_DIR / original / "train.json").read_text())
    assert train["excluded_classes"] == [excluded] and train["steps"] == source_train["steps"]
    for key in ("batch_size", "lr", "warmup", "decay_steps", "ema_decay", "label_dropout", "seed", "guidance"):
        assert train["args"].get(key) == source_train["args"].get(key), key
    assert retrained.config.default_guidance_scale == source.config.default_guidance_scale, "the same sampler"


@pytest.mark.parametrize(("name", "dataset", "target"), [("mnist-classifier", "mnist", 0.99),
                                                         ("fashion-classifier", "fashion-mnist", 0.91)])  # fmt: skip
def test_shipped_classifier_accuracy_on_the_real_test_set(data_root, name: str, dataset: str, target: float) -> None:
    classifier = load_classifier(name)
    test = load_dataset(dataset, data_root, train=False)
    accuracy = (predict_proba(classifier, test.images).argmax(-1) == test.labels).float().mean().item()
    assert accuracy >= target


@pytest.mark.parametrize("name", SHIPPED_CLASSIFIERS)
def test_shipped_classifiers_reject_what_belongs_to_no_class(name: str) -> None:
    classifier = load_classifier(name)
    assert rejects(classifier) and classifier.config.num_classes == 10
    g = torch.Generator().manual_seed(12345)
    negatives = torch.cat([synthetic_negatives(kind, 50, (1, 28, 28), g) for kind in NO_DATA_KINDS])
    rejected = (predict_proba(classifier, negatives).argmax(-1) == 10).float().mean().item()
    assert rejected >= 0.98, f"{name} rejects {rejected:.1%} of noise, constant images, blobs, strokes and lattices"


@pytest.mark.parametrize("name", SHIPPED_PIPELINES)
def test_shipped_pipeline_draws_the_requested_classes(name: str) -> None:
    """A small version of the model-card measurement: 6 samples of each class, default sampler, judged by the
    shipped classifier of the pipeline's dataset (a retrained reference's excluded class is not judged)."""
    torch.manual_seed(0)
    pipe = load_pipeline(name)
    excluded = RETRAINED_REFERENCES.get(name, (None, None))[1]
    classes = [c for c in range(10) if c != excluded]
    images, labels = sample_images(pipe, classes, 6, seed=123, progress=False)
    dataset = dataset_of(pipe)
    accuracy = class_accuracy(classify(load_classifier(DEFAULT_CLASSIFIERS[dataset]), images), labels)
    assert accuracy.mean >= (0.9 if dataset == "mnist" else 0.8), accuracy.per_class
