"""The scripts under scripts/: the training scripts run for a few steps on the real data, the others on tiny inputs."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_ddpm, tiny_dit
from diffusers import AutoencoderKL

from gen_unlearn.erasure import method_config
from gen_unlearn.hub import PRETRAINED_DIR

ROOT = Path(__file__).resolve().parents[1]


def train_vae(*args: str) -> None:
    command = [sys.executable, str(ROOT / "scripts" / "train_mnist_vae.py"), "--dataset", "fashion-mnist"]
    small = ["--steps", "3", "--batch-size", "8", "--judge-per-class", "20", "--threads", "1"]
    subprocess.run([*command, *small, *args], check=True, cwd=ROOT)


def script(name: str):
    """A script under scripts/ as a module (its functions, not its command line)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decoder_of_trains_the_decoder_and_keeps_the_latent_space(tmp_path: Path) -> None:
    """A DiT trained on a VAE's latents keeps working with the sharper decoder: same encoder, same scale."""
    first, second = tmp_path / "vae", tmp_path / "decoder"
    train_vae("--latent-channels", "2", "--latent-size", "14", "--output", str(first))
    train_vae("--decoder-of", str(first), "--output", str(second), "--lr", "0.01")
    before, after = AutoencoderKL.from_pretrained(first), AutoencoderKL.from_pretrained(second)
    assert after.config.latent_channels == 2
    assert after.config.scaling_factor == before.config.scaling_factor
    old, new = before.state_dict(), after.state_dict()
    for name in old:
        same = torch.equal(old[name], new[name])
        assert same == name.startswith(("encoder.", "quant_conv.")), f"{name}: frozen only in the encoder"
    record = json.loads((second / "train.json").read_text())
    assert record["encoder_trained_by"]["args"]["latent_channels"] == 2
    assert set(record["classifier_on_reconstructions"]["Shirt"]) == {"real", "reconstructed", "images"}

    # the DiT of a 14×14 latent patches it into 7×7 tokens, and its pipeline samples 28×28 images
    pipe = script("train_reference_diffusion").build_dit(after, [str(c) for c in range(10)])
    assert pipe.transformer.config.patch_size == 2 and pipe.transformer.config.in_channels == 2
    images = pipe([6], num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt").images
    assert images.shape == (1, 1, 28, 28)


def test_cards_only_rewrites_a_card_from_an_older_quality_record(tmp_path: Path) -> None:
    """An older quality.json (no dataset, classifier or target) still gives a full card, its VAE line from the VAE."""
    folder = tmp_path / "mnist-dit"
    shutil.copytree(PRETRAINED_DIR / "mnist-dit", folder)
    record = json.loads((folder / "quality.json").read_text())
    for field in ("dataset", "classifier", "excluded_classes", "target"):
        record.pop(field, None)
    (folder / "quality.json").write_text(json.dumps(record))
    (folder / "README.md").unlink()
    command = [sys.executable, str(ROOT / "scripts" / "measure_reference_quality.py"), "--cards-only"]
    subprocess.run([*command, "--pipelines", str(folder)], check=True, cwd=ROOT)
    card = (folder / "README.md").read_text()
    assert "every class ≥ 97%" in card and "`mnist-classifier`" in card
    assert "1×28×28 -> 4×7×7" in card and "train_mnist_vae.py --dataset mnist`" in card


def test_the_random_inception_for_gpu_timing_loads_as_the_fid_network_and_sees_the_image(tmp_path: Path) -> None:
    """make_random_inception.py (the device check's stand-in for the 84 MB weights): the FID network's file name
    and interface, and features that depend on the image (untouched batch-norm statistics make them vanish)."""
    from gen_unlearn.evaluation.features import InceptionNetwork

    command = [sys.executable, str(ROOT / "scripts" / "make_random_inception.py"), "--output", str(tmp_path)]
    subprocess.run(command, check=True, cwd=ROOT)
    network = InceptionNetwork(tmp_path)
    digits = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    features, blank = network.features(digits), network.features(torch.zeros_like(digits))
    assert features.shape == (4, 2048) and torch.isfinite(features).all()
    assert (features - blank).abs().mean() > 1.0 and features.std(0).mean() > 0.1


def test_attribute_damage_groups_restores_and_measures_the_weights_of_a_dit() -> None:
    """attribute_damage.py's parts on a tiny DiT: every weight in one group, a group restored is the original's
    exactly and the rest stays erased, and only the groups that moved show movement."""
    from conftest import tiny_dit

    attribute = script("attribute_damage")
    original = tiny_dit()
    erased = tiny_dit()
    with torch.no_grad():
        for name, parameter in erased.transformer.named_parameters():
            if "class_embedder" in name or ".ff." in name:
                parameter.add_(0.5)
    names = [n for n, _ in original.transformer.named_parameters()]
    groups = attribute.groups_of(names, attribute.DEFAULT_GROUPS)
    assert sorted(n for members in groups.values() for n in members) == sorted(names)
    assert all("class_embedder" in n for n in groups["class embeddings"])
    moved = attribute.movement(original, erased, groups)
    assert moved["class embeddings"] > 0 and moved["feed-forward"] > 0
    assert moved["attention"] == 0 and moved["adaLN modulation"] == 0
    restored = attribute.mixed(erased, original, groups["class embeddings"])
    after = attribute.movement(original, restored, groups)
    assert after["class embeddings"] == 0 and after["feed-forward"] == moved["feed-forward"]
    assert attribute.movement(original, erased, groups) == moved, "mixing copies: the erased pipeline is untouched"


def test_benchmark_methods_settings_go_to_the_methods_they_name_and_sfron_to_every_class() -> None:
    import argparse

    bench = script("benchmark_methods")
    sets = ["sfron.forget_label_dropout=0.1", "lr=1e-4"]
    args = argparse.Namespace(methods=["salun", "sa"], set=sets, every_class="fashion-dit")
    assert bench.method_settings(args) == {"salun": {"lr": 1e-4}, "sa": {"lr": 1e-4}}
    assert bench.method_settings(args, ["sfron"]) == {"sfron": {"forget_label_dropout": 0.1, "lr": 1e-4}}
    args.every_class = ""  # without stage 2, a setting for a method that does not run is a mistake
    with pytest.raises(SystemExit, match="sfron is not one of --methods"):
        bench.method_settings(args)
    args.set = ["sa.ewc_lambda=0.1"]  # stage 2 reads sfron's settings and leaves stage 1's alone
    assert bench.method_settings(args, ["sfron"]) == {"sfron": {}}
    assert bench.method_settings(args)["sa"] == {"ewc_lambda": 0.1}


def test_benchmark_cost_times_the_retraining_recipe_of_train_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost script's retraining steps follow the retrained model's train.json: its batch size and learning
    rate, training data without the excluded class, and each step trains the weights."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # benchmark_cost imports train_reference_diffusion
    cost = script("benchmark_cost")
    assert cost.variants(["", "remain_guidance=null lr=0.001"]) == {
        "defaults": {},
        "remain_guidance=null lr=0.001": {"remain_guidance": None, "lr": 0.001},
    }
    timer = cost.RetrainTimer("mnist-ddpm-without-3", None, seed=0)
    assert timer.batch_size == 128 and timer.optimizer.param_groups[0]["lr"] == 0.002
    assert len(timer.inputs.labels) == 53_869 and not (timer.inputs.labels == 3).any()
    before = [p.detach().clone() for p in timer.objective.trainable.parameters()]
    assert timer.seconds_per_step(1) > 0
    after = list(timer.objective.trainable.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_sweep_sfron_splits_a_variant_into_method_loop_and_data_free_settings() -> None:
    split = script("sweep_sfron").split_variant
    assert split("") == ({}, {"steps": 50, "mixed_precision": "no"}, {})
    method, loop, data_free = split("remain_guidance=null steps=25 mixed_precision=bf16 data_free_remain=1024 lr=1e-4")
    assert method == {"remain_guidance": None, "lr": 1e-4}
    assert loop == {"steps": 25, "mixed_precision": "bf16"} and data_free == {"remain": 1024}


def test_sweep_sfron_keeps_each_row_and_reads_it_back_on_a_rerun(tmp_path: Path) -> None:
    """A rerun skips the variant measured before; the table lists every row kept for the protocol."""
    command = [sys.executable, "scripts/sweep_sfron.py", "mnist-ddpm", "3", "--num-samples", "1", "--device", "cpu"]
    variant = "steps=1 fisher_batches=1 data_free_forget=2 data_free_remain=9 data_free_num_inference_steps=2"
    command += ["--variants", variant, "--output", str(tmp_path)]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    assert "was measured before" not in first.stderr and "was measured before" in again.stderr
    (folder,) = tmp_path.iterdir()
    assert folder.name == "mnist-ddpm-class3-1-per-class-200-reference-no-fid"
    rows = (folder / "results.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"mnist-ddpm,3,{variant},0,"), rows


def test_sweep_sfron_keeps_other_protocols_and_settings_apart(tmp_path: Path) -> None:
    sweep = script("sweep_sfron")
    args = argparse.Namespace(pipeline="mnist-ddpm", forget_class=3, retrained="mnist-ddpm-without-3",
                              num_samples=100, reference_per_class=200, output=tmp_path)  # fmt: skip
    other = argparse.Namespace(**{**vars(args), "num_samples": 20})
    assert sweep.protocol_folder(args) != sweep.protocol_folder(other), "rows of other samples never overwrite these"
    unet, transformer = tiny_ddpm().denoiser, tiny_dit().denoiser
    defaults, tuned = sweep.variant_key({}, "", 0, unet), sweep.variant_key({}, "remain_alpha=20", 0, unet)
    resolved = method_config("sfron").for_denoiser(unet)
    assert defaults["settings"]["sfron"] == resolved, "the resolved defaults: a change re-measures"
    assert tuned["settings"]["sfron"].remain_alpha == 20 and tuned != defaults
    assert sweep.variant_key({}, "", 0, transformer) != defaults, "the learning rate left to the denoiser differs"
    with pytest.raises(ValueError, match="no setting no_such"):
        sweep.variant_key({}, "no_such=1", 0, unet)


def test_sweep_sfron_refuses_a_bad_setting_in_one_line_before_loading(tmp_path: Path) -> None:
    command = [sys.executable, "scripts/sweep_sfron.py", "mnist-ddpm", "3", "--variants", "", "no_such=1"]
    done = subprocess.run([*command, "--output", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "--variants 'no_such=1': sfron has no setting no_such" in done.stderr.splitlines()[-1]
    assert not any(tmp_path.iterdir()), "nothing measured or written"


def test_benchmark_scale_measures_an_erase_with_accumulated_micro_batches(tmp_path: Path) -> None:
    """The accumulated row of the README's DiT-XL table (batch 16 × 2), here on a shipped pipeline on the CPU."""
    command = [sys.executable, "scripts/benchmark_scale.py", "mnist-dit", "--device", "cpu", "--methods", "sfron"]
    command += ["--batch-sizes", "2", "--grad-accum", "2", "--warmup-steps", "1", "--timed-steps", "1"]
    command += ["--skip-sampling", "--set", "sfron.fisher_batches=1", "--output", str(tmp_path)]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert "error" not in row, row
    assert (row["method"], row["batch_size"], row["grad_accum"], row["device"]) == ("sfron", 2, 2, "cpu")
    assert row["s_per_step"] > 0 and row["peak_gib"] > 0
    assert "sfron      2×2" in (tmp_path / "table.txt").read_text()


def test_stroke_ink_measures_real_images_and_every_model_on_the_same_seeds(tmp_path: Path, data_root) -> None:
    pipe = tiny_ddpm()
    pipe.save_pretrained(tmp_path / "tiny")
    tiny = str(tmp_path / "tiny")
    command = [sys.executable, "scripts/stroke_ink.py", tiny, "1", "--retrained", tiny]
    command += ["--erases", "ga", "ga lr=0.01", "--num-per-class", "2", "--data-root", str(data_root)]
    subprocess.run([*command, "--threads", "1", "--output", str(tmp_path / "out")], check=True, cwd=ROOT)
    rows = (tmp_path / "out" / "ink.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["model", "real test images", "original", "retrained", "ga", "ga lr=0.01"]
    ink = {r.split(",")[0]: float(r.split(",")[1]) for r in rows[1:]}
    images, _ = script("stroke_ink").sample_images(pipe, [0, 2], num_per_class=2, seed=0, progress=False)
    assert ink["original"] == ink["retrained"] == pytest.approx(float((images > 128).mean()))
    assert 0.05 < ink["real test images"] < 0.25, "MNIST's test digits other than 1"
    assert ink["ga lr=0.01"] != ink["ga"], "the setting reached the erase"
    record = json.loads((tmp_path / "out" / "ink.json").read_text())
    assert record["arguments"]["erases"] == ["ga", "ga lr=0.01"] and "torch" in record["versions"]
    wrong = subprocess.run([*command[:3], "1", "--erases", "ga nope=1"], cwd=ROOT, capture_output=True, text=True)
    assert wrong.returncode != 0 and "ga has no setting nope" in wrong.stderr.strip().splitlines()[-1]
