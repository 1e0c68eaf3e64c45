from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from gen_unlearn.data import DatasetNotFoundError, class_split, load_dataset, random_subset_split
from gen_unlearn.io import cache_dir


def _snapshot(root) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*")}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_loads_real_data_from_a_read_only_root_without_writing_there(data_root, name: str) -> None:
    before = _snapshot(data_root)
    train = load_dataset(name, data_root, train=True)
    test = load_dataset(name, data_root, train=False)
    assert (len(train), len(test)) == (60000, 10000)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.num_classes == 10 and torch.bincount(train.labels).min() > 5000
    assert _snapshot(data_root) == before, "loading must never write into the data root"


def test_data_root_from_environment(data_root, monkeypatch) -> None:
    monkeypatch.setenv("GEN_UNLEARN_DATA_ROOT", str(data_root))
    assert len(load_dataset("mnist", train=False)) == 10000


def test_missing_data_names_the_folder_and_the_fix(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("mnist", tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte.gz" in message
    assert "--data-root" in message and "--download" in message


def test_unknown_dataset_name() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


def test_cifar10_layout_made_here(tmp_path) -> None:
    """CIFAR-10 is not available offline: build torchvision's extracted layout with random images."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)

    def batch(n: int, offset: int) -> dict:
        return {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "labels": [(offset + i) % 10 for i in range(n)],
        }

    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch(20, i), f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch(10, 0), f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    train = load_dataset("cifar10", tmp_path, train=True)
    assert train.images.shape == (100, 3, 32, 32) and train.class_names[3] == "c3"
    assert len(load_dataset("CIFAR-10", tmp_path, train=False)) == 10


def test_class_split() -> None:
    labels = torch.tensor([0, 1, 2, 1, 0, 1])
    forget, remain = class_split(labels, 1)
    assert forget.tolist() == [1, 3, 5] and remain.tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match="forget class 3 is out of range"):
        class_split(labels, 3)


def test_random_subset_split_is_seeded_and_disjoint() -> None:
    forget, remain = random_subset_split(1000, 0.1, seed=3)
    assert len(forget) == 100 and len(remain) == 900
    assert set(forget.tolist()).isdisjoint(remain.tolist())
    assert torch.equal(forget, random_subset_split(1000, 0.1, seed=3)[0])
    assert not torch.equal(forget, random_subset_split(1000, 0.1, seed=4)[0])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        random_subset_split(10, 1.0)


def test_labeled_images_helpers(data_root) -> None:
    test = load_dataset("mnist", data_root, train=False)
    sevens = test.of_class(7)
    assert (sevens.labels == 7).all() and len(sevens) == int((test.labels == 7).sum())
    x = sevens.as_model_input()
    assert x.min() >= -1 and x.max() <= 1 and x.dtype == torch.float32


def test_archives_are_extracted_into_the_cache(data_root) -> None:
    load_dataset("mnist", data_root, train=False)
    assert list(cache_dir().rglob("t10k-images-idx3-ubyte")), "the archives are extracted into the cache"


def test_a_pipeline_names_its_dataset_and_default_classifier(data_root) -> None:
    """A Fashion-MNIST pipeline is compared with Fashion-MNIST and judged by the Fashion-MNIST classifier."""
    from conftest import tiny_ddpm

    from gen_unlearn.data import FASHION_NAMES, MNIST_NAMES, dataset_of
    from gen_unlearn.evaluation.classifiers import resolve_classifier

    fashion = tiny_ddpm(10, dict(enumerate(FASHION_NAMES)))
    assert dataset_of(fashion) == "fashion-mnist"
    assert dataset_of(tiny_ddpm(10, dict(enumerate(MNIST_NAMES)))) == "mnist"
    assert dataset_of(tiny_ddpm(10)) == "mnist"  # unnamed classes: the old default
    assert dataset_of(fashion, "imagefolder") == "imagefolder"  # what the user names wins
    assert load_dataset("fashion-mnist", data_root, train=False).class_names == FASHION_NAMES

    fashion.unet.config.sample_size = 28  # the classifier is checked on the pipeline's image shape
    model, name = resolve_classifier(None, torch.device("cpu"), fashion)
    assert name == "fashion-classifier" and model.config.id2label["6"] == "Shirt"
