from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import one_line_error, tiny_ddpm
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from PIL import Image

from gen_unlearn.cli import main


@pytest.fixture
def tiny_ddpm_dir(tmp_path):
    path = tmp_path / "tiny-ddpm"
    tiny_ddpm(id2label={"0": "cat", "1": "dog", "2": "bird"}).save_pretrained(path)
    return path


def test_sample_writes_pngs_and_a_run_record(tiny_ddpm_dir, tmp_path) -> None:
    out = tmp_path / "out"
    assert (
        main(["sample", str(tiny_ddpm_dir), "--class", "dog", "--num", "3", "--steps", "2", "--output", str(out)]) == 0
    )
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == ["class1_00000.png", "class1_00001.png", "class1_00002.png"]
    assert Image.open(pngs[0]).size == (8, 8)
    record = json.loads((out / "run.json").read_text())
    assert record["class_id"] == 1 and record["class_name"] == "dog" and record["num_inference_steps"] == 2
    assert {"load", "sample", "write"} <= set(record["timings_s"]) and "diffusers" in record["versions"]


def test_same_seed_same_images_whatever_the_batch_size(tiny_ddpm_dir, tmp_path) -> None:
    common = ["sample", str(tiny_ddpm_dir), "--class", "2", "--num", "4", "--steps", "2", "--seed", "9"]
    main([*common, "--batch-size", "4", "--output", str(tmp_path / "a")])
    main([*common, "--batch-size", "3", "--output", str(tmp_path / "b")])
    for name in ("class2_00000.png", "class2_00003.png"):
        a, b = (np.asarray(Image.open(tmp_path / d / name)) for d in ("a", "b"))
        assert np.array_equal(a, b)


def test_unknown_pipeline(capsys, tmp_path) -> None:
    one_line_error(capsys, ["sample", "no-such-model", "--class", "0", "--output", str(tmp_path)], "unknown pipeline")


def test_hub_id_offline_is_one_line(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["sample", "nobody/not-a-model", "--class", "0", "--output", str(tmp_path)]
    one_line_error(capsys, argv, "could not read the pipeline config", "local directory")


def test_class_out_of_range(capsys, tiny_ddpm_dir, tmp_path) -> None:
    argv = ["sample", str(tiny_ddpm_dir), "--class", "7", "--output", str(tmp_path / "o")]
    one_line_error(capsys, argv, "class 7 is out of range", "0..2")
    assert not (tmp_path / "o").exists()


def test_wrong_pipeline_type(capsys, tmp_path) -> None:
    unet = UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    DDPMPipeline(unet, DDPMScheduler()).save_pretrained(tmp_path / "unconditional")
    argv = ["sample", str(tmp_path / "unconditional"), "--class", "0", "--output", str(tmp_path / "o")]
    one_line_error(capsys, argv, "holds a DDPMPipeline, not a class-conditional pipeline")


def test_directory_without_model_index(capsys, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    argv = ["sample", str(tmp_path / "empty"), "--class", "0", "--output", str(tmp_path / "o")]
    one_line_error(capsys, argv, "has no model_index.json")


def test_bad_numbers(capsys, tiny_ddpm_dir, tmp_path) -> None:
    one_line_error(
        capsys, ["sample", str(tiny_ddpm_dir), "--class", "0", "--num", "0", "--output", str(tmp_path)], "--num"
    )


def test_unavailable_device(capsys, tiny_ddpm_dir, tmp_path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["sample", str(tiny_ddpm_dir), "--class", "0", "--device", "cuda", "--output", str(tmp_path)]
    one_line_error(capsys, argv, "no CUDA GPU", "--device cpu")


def test_console_script_is_installed(tiny_ddpm_dir, tmp_path) -> None:
    exe = shutil.which("gen-unlearn")
    assert exe, "install the project (pip install -e .) so that the gen-unlearn command exists"
    done = subprocess.run(
        [
            exe,
            "sample",
            str(tiny_ddpm_dir),
            "--class",
            "cat",
            "--num",
            "1",
            "--steps",
            "1",
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "sampling" in done.stderr  # the progress bar
    assert (tmp_path / "o" / "class0_00000.png").exists()


def test_erase_command_writes_a_loadable_pipeline(tiny_ddpm_dir, tmp_path) -> None:
    out = tmp_path / "erased"
    argv = ["erase", str(tiny_ddpm_dir), "--forget-class", "dog", "--method", "ft", "--steps", "2", "--data-free"]
    argv += ["--data-free-forget", "2", "--data-free-remain", "3", "--sampling-dtype", "bf16"]
    argv += ["--batch-size", "2", "--set", "lr=0.001", "--output", str(out)]
    assert main(argv) == 0
    record = json.loads((out / "run.json").read_text())
    assert (
        record["forget_class"] == 1
        and record["settings"]["lr"] == 0.001
        and record["data"]["source"].startswith("data-free")
    )
    assert record["data"]["num_forget"] == 2 and record["data"]["num_remain"] == 3
    assert record["data_free"]["dtype"] == "bf16" and record["data_free"]["forget"] == 2
    assert (out / "model_index.json").exists()


def test_erase_refuses_to_overwrite_or_to_write_over_its_input(capsys, tiny_ddpm_dir, tmp_path) -> None:
    base = ["erase", str(tiny_ddpm_dir), "--forget-class", "0", "--steps", "1", "--data-free"]
    one_line_error(capsys, [*base, "--output", str(tiny_ddpm_dir)], "never overwrites its input")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    one_line_error(capsys, [*base, "--output", str(tmp_path / "taken")], "already exists", "--overwrite")
    one_line_error(capsys, [*base, "--method", "esd", "--output", str(tmp_path / "o")], "unknown method 'esd'")
    one_line_error(capsys, [*base, "--set", "alpha", "--output", str(tmp_path / "o")], "name=value")
    one_line_error(capsys, [*base, "--data-root", str(tmp_path), "--output", str(tmp_path / "o")], "exclude each other")
    (tmp_path / "o.partial").mkdir()
    one_line_error(
        capsys, ["erase", str(tiny_ddpm_dir), "--forget-class", "0", "--output", str(tmp_path / "o")], "--resume"
    )


def test_erase_with_missing_data_is_one_line(capsys, tiny_ddpm_dir, tmp_path) -> None:
    argv = ["erase", str(tiny_ddpm_dir), "--forget-class", "0", "--steps", "1", "--data-root", str(tmp_path / "none")]
    one_line_error(capsys, [*argv, "--output", str(tmp_path / "o")], "mnist not found", "--data-root")


def test_running_out_of_device_memory_is_one_line_and_leaves_nothing(capsys, tiny_ddpm_dir, tmp_path, monkeypatch):
    from gen_unlearn.loop import Trainer

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(Trainer, "run", out_of_memory)
    out = tmp_path / "o"
    argv = ["erase", str(tiny_ddpm_dir), "--forget-class", "0", "--steps", "1", "--data-free", "--output", str(out)]
    argv += ["--data-free-forget", "1", "--data-free-remain", "2", "--sampling-steps", "2"]
    one_line_error(capsys, argv, "out of memory", "--batch-size", "bf16")
    assert not out.exists() and not (tmp_path / "o.partial").exists()


def test_bad_data_free_budgets_and_devices_are_one_line(capsys, tiny_ddpm_dir, tmp_path) -> None:
    base = ["erase", str(tiny_ddpm_dir), "--forget-class", "0", "--data-free", "--output", str(tmp_path / "o")]
    one_line_error(capsys, [*base, "--data-free-remain", "0"], "budgets must be at least 1")
    one_line_error(capsys, [*base, "--device", "tpu:0"], "is not a torch device")
    if not torch.cuda.is_available():
        one_line_error(capsys, [*base, "--device", "cuda:1"], "no CUDA GPU")
    assert not (tmp_path / "o").exists()


def test_quiet_and_verbose_set_what_is_logged(capsys, tiny_ddpm_dir, tmp_path) -> None:
    base = ["erase", str(tiny_ddpm_dir), "--forget-class", "0", "--method", "ft", "--steps", "1", "--data-free"]
    base += ["--data-free-forget", "1", "--data-free-remain", "2", "--sampling-steps", "2", "--batch-size", "2"]
    assert main([*base, "--output", str(tmp_path / "a")]) == 0
    assert "erasing class 0" in capsys.readouterr().err
    assert main(["--quiet", *base, "--output", str(tmp_path / "b")]) == 0
    assert "erasing class 0" not in capsys.readouterr().err
    assert main(["-v", *base, "--output", str(tmp_path / "c")]) == 0
    assert "erasing class 0" in capsys.readouterr().err
