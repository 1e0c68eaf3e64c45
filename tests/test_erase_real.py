"""A short real erase of the shipped MNIST DDPM: the forgotten digit stops coming out, the others stay."""

from __future__ import annotations

from gen_unlearn import load_classifier, load_pipeline, sample_images
from gen_unlearn.erasure import erase
from gen_unlearn.evaluation.accuracy import class_accuracy, classify
from gen_unlearn.loop import TrainingConfig


def test_sfron_erase_of_the_shipped_ddpm_lowers_forgetting_accuracy(data_root) -> None:
    pipe = load_pipeline("mnist-ddpm")
    pipe.set_progress_bar_config(disable=True)
    classifier = load_classifier("mnist-classifier")

    def accuracy(pipeline, classes, n):
        images, labels = sample_images(pipeline, classes, n, seed=1, progress=False)
        return class_accuracy(classify(classifier, images), labels).mean

    before = accuracy(pipe, [3], 16)
    training = TrainingConfig(steps=50, batch_size=64, progress=False)
    erased = erase(pipe, "three", "sfron", data="real", data_root=data_root, training=training)
    after = accuracy(erased, [3], 16)
    assert before >= 0.9
    assert after <= 0.25, f"forgetting accuracy {before:.2f} -> {after:.2f}"
    assert accuracy(erased, [0, 1, 7], 8) >= 0.8
