"""Real data at any size: image folders streamed through a DataLoader, fitted and matched to the pipeline."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cpu_state, one_line_error, tiny_ddpm
from diffusers import DDPMScheduler, UNet2DModel
from PIL import Image

from gen_unlearn.batches import BatchStream
from gen_unlearn.cli import main
from gen_unlearn.data import ForgetRemainSets, real_forget_remain
from gen_unlearn.images import ImageFolder, fit_image
from pipelines import ClassConditionalDDPMPipeline


def write_folder(root: Path, names: list[str], per_class: int = 3, size: tuple[int, int] = (12, 12)) -> Path:
    """One sub-folder of PNGs per class; image j of class i is filled with grey level 20·i + j."""
    for i, name in enumerate(names):
        (root / name).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            Image.new("RGB", size, (20 * i + j,) * 3).save(root / name / f"{j:03d}.png")
    return root


def test_fit_image_center_crops_resizes_and_converts() -> None:
    image = Image.new("RGB", (30, 10), (0, 0, 255))
    image.paste((255, 0, 0), (10, 0, 20, 10))  # a red square in the middle of a blue band
    fitted = fit_image(image, (3, 4, 4))
    assert fitted.shape == (3, 4, 4) and fitted.dtype == torch.uint8
    assert (fitted[0] == 255).all() and (fitted[2] == 0).all(), "the sides are cropped, the centre kept"
    grey = fit_image(Image.new("RGB", (5, 5), (10, 10, 10)), (1, 8, 8))
    assert grey.shape == (1, 8, 8) and (grey == 10).all()
    with pytest.raises(ValueError, match="4-channel"):
        fit_image(image, (4, 8, 8))


def test_folders_match_classes_by_index_by_name_or_in_order(tmp_path) -> None:
    by_index = ImageFolder(write_folder(tmp_path / "a", ["2", "0"]), (1, 8, 8), num_classes=3)
    assert by_index.folders == {0: "0", 2: "2"} and sorted(set(by_index.labels.tolist())) == [0, 2]
    by_name = ImageFolder(write_folder(tmp_path / "b", ["Dog", "cat"]), (1, 8, 8), {"cat": 0, "dog": 1}, 3)
    assert by_name.folders == {1: "Dog", 0: "cat"}
    wnids = ImageFolder(write_folder(tmp_path / "c", ["n02", "n01", "n03"]), (1, 8, 8), {}, 3)
    assert wnids.folders == {0: "n01", 1: "n02", 2: "n03"}, "sorted wnid folders give the class index"
    image, label, skipped = wnids[4]
    assert label == 1 and image.shape == (1, 8, 8) and (image == 0 + 1).all() and (skipped == -1).all()  # n02, j = 1
    with pytest.raises(ValueError, match="has 2 class folders but the pipeline has 3 classes, and folder 'n01'"):
        ImageFolder(write_folder(tmp_path / "d", ["n01", "n02"]), (1, 8, 8), {}, 3)
    with pytest.raises(ValueError, match=r"class folder 7 but the pipeline has classes 0\.\.2"):
        ImageFolder(write_folder(tmp_path / "e", ["0", "7"]), (1, 8, 8), {}, 3)
    with pytest.raises(FileNotFoundError, match="no class folders with images"):
        ImageFolder(tmp_path / "e" / "0", (1, 8, 8), {}, 3)


def test_forget_batches_come_from_the_forget_class_only_and_stream_with_workers(tmp_path) -> None:
    root = write_folder(tmp_path / "data", ["0", "1", "2"], per_class=5)
    sets = real_forget_remain("imagefolder", 1, root, (1, 8, 8), {}, 3)
    assert len(sets.forget_indices) == 5 and len(sets.remain_indices) == 10
    forget = BatchStream(sets.forget, batch_size=4, seed=0, num_workers=2)
    remain = BatchStream(sets.remain, batch_size=4, seed=1, num_workers=2)
    for _ in range(3):
        images, labels = next(forget)
        assert images.shape == (4, 1, 8, 8) and images.dtype == torch.uint8 and (labels == 1).all()
        _, remain_labels = next(remain)
        assert (remain_labels != 1).all()
    again = BatchStream(sets.forget, batch_size=4, seed=0)
    again.load_state_dict({"consumed": 2})
    third = next(again)
    replay = BatchStream(sets.forget, batch_size=4, seed=0)
    next(replay), next(replay)
    assert torch.equal(next(replay)[0], third[0]), "a stream resumes at its batch count"


def test_unreadable_images_are_skipped_counted_and_small_ones_warned(tmp_path, caplog) -> None:
    root = write_folder(tmp_path / "data", ["0", "1", "2"], per_class=2, size=(4, 4))
    (root / "1" / "broken.png").write_bytes(b"not a png")
    folder = ImageFolder(root, (1, 8, 8), {}, 3)
    broken = next(i for i, f in enumerate(folder.files) if f.name == "broken.png")
    with caplog.at_level(logging.WARNING, logger="gen_unlearn.images"):
        image, label, skipped = folder[broken]
    assert label == 1 and image.shape == (1, 8, 8) and skipped.tolist()[0] == broken
    assert "upscaled" in caplog.text and "skipping unreadable image" in caplog.text


def cifar_size_ddpm() -> ClassConditionalDDPMPipeline:
    """A random class-conditional DDPM of CIFAR-10's size: 32×32 RGB, 10 classes."""
    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        num_class_embeds=11,
    )
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    return ClassConditionalDDPMPipeline(unet, scheduler, id2label=dict(enumerate(names)))


def test_a_cifar_size_ddpm_erases_through_the_image_folder_path(tmp_path) -> None:
    pipe_dir = tmp_path / "cifar-ddpm"
    cifar_size_ddpm().save_pretrained(pipe_dir)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    root = write_folder(tmp_path / "images", names, per_class=3, size=(48, 40))  # cropped and resized to 32×32
    (root / "cat" / "001.png").unlink(), (root / "cat" / "002.png").unlink()
    (root / "cat" / "broken.jpg").write_bytes(b"\x00" * 10)  # one of the two cat files: read in every run
    out = tmp_path / "erased"
    argv = ["erase", str(pipe_dir), "--forget-class", "cat", "--dataset", "imagefolder", "--data-root", str(root)]
    argv += ["--steps", "2", "--batch-size", "4", "--num-workers", "2", "--device", "cpu", "--output", str(out)]
    argv += ["--set", "fisher_batches=1"]
    assert main(argv) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["data"]["source"] == f"imagefolder:{root.resolve()}" and record["data"]["image_shape"] == [3, 32, 32]
    assert record["data"]["num_forget"] == 2 and record["data"]["num_remain"] == 27
    assert record["data"]["skipped_images"] == 1 and record["data"]["skipped_files"][0].endswith("broken.jpg")
    erased = ClassConditionalDDPMPipeline.from_pretrained(out)
    original = ClassConditionalDDPMPipeline.from_pretrained(pipe_dir)
    before, after = cpu_state(original.unet), cpu_state(erased.unet)
    assert any(not torch.equal(before[n], after[n]) for n in before)


def test_image_folder_bad_input_is_one_line_and_leaves_nothing(capsys, tmp_path) -> None:
    pipe_dir = tmp_path / "tiny"
    tiny_ddpm().save_pretrained(pipe_dir)
    out = tmp_path / "out"
    base = ["erase", str(pipe_dir), "--forget-class", "1", "--steps", "1", "--output", str(out)]
    one_line_error(capsys, [*base, "--dataset", "imagefolder"], "--dataset imagefolder needs --data-root")
    wrong = write_folder(tmp_path / "wrong", ["a", "b"])
    argv = [*base, "--dataset", "imagefolder", "--data-root", str(wrong)]
    one_line_error(capsys, argv, "2 class folders", "3 classes")
    one_line_error(capsys, [*base, "--dataset", "imagefolder", "--data-root", str(tmp_path / "nope")], "does not exist")
    assert not out.exists() and not Path(f"{out}.partial").exists()


def test_real_mnist_streams_through_the_same_path(data_root) -> None:
    sets = real_forget_remain("mnist", 3, data_root, (3, 16, 16), num_classes=10)
    assert isinstance(sets, ForgetRemainSets) and sets.source == "real:mnist"
    images, labels = next(BatchStream(sets.forget, batch_size=8, seed=0))
    assert images.shape == (8, 3, 16, 16) and (labels == 3).all()
    assert np.array_equal(images[:, 0].numpy(), images[:, 2].numpy()), "grey converted to RGB"
    with pytest.raises(ValueError, match="mnist has 10 classes but the pipeline has 3"):
        real_forget_remain("mnist", 1, data_root, (1, 8, 8), num_classes=3)
