from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest
import torch
from conftest import cpu_state, tiny_ddpm, tiny_dit, tiny_sets

from gen_unlearn.data import ForgetRemainSets
from gen_unlearn.denoiser import DenoisingObjective
from gen_unlearn.erasure import erase, method_config
from gen_unlearn.io import cache_dir, fingerprint_pipeline
from gen_unlearn.loop import Trainer, TrainingConfig, runs_on
from gen_unlearn.methods import METHODS
from gen_unlearn.methods.sa import SelectiveAmnesia
from gen_unlearn.methods.salun import SalUn
from gen_unlearn.methods.sfron import DENOISER_LR, SFROn
from gen_unlearn.relabel import other_class
from gen_unlearn.replay import DataFreeConfig, data_free_forget_remain, spread
from gen_unlearn.saliency import mask_density
from gen_unlearn.weighting import adaptive_forget_weights, forget_weight

FAST = {
    "sfron": {"fisher_batches": 2},
    "salun": {"saliency_batches": 2},
    "sa": {"replay_samples": 4, "fisher_samples": 3, "fisher_timesteps": 10},
    "ga": {},
    "rl": {},
    "ft": {},
}


def test_adaptive_weights_by_hand() -> None:
    # ℓ = [1, 4], λ = 0.5: ℓ^-λ = [1, 0.5], w = 2·[1, 0.5]/1.5
    w = adaptive_forget_weights(torch.tensor([1.0, 4.0]), lam=0.5)
    assert torch.allclose(w, torch.tensor([4 / 3, 2 / 3]))
    assert torch.allclose(adaptive_forget_weights(torch.tensor([1.0, 4.0]), lam=0.0), torch.ones(2))
    losses = torch.tensor([0.5, 2.0], requires_grad=True)
    assert not adaptive_forget_weights(losses).requires_grad


def test_forget_weight_schedules() -> None:
    assert forget_weight(10, 0, 100, "cosine") == 10
    assert math.isclose(forget_weight(10, 50, 100, "cosine"), 5)
    assert math.isclose(forget_weight(10, 100, 100, "cosine"), 0, abs_tol=1e-12)
    assert math.isclose(forget_weight(10, 25, 100, "linear"), 7.5)
    assert forget_weight(10, 99, 100, "constant") == 10
    with pytest.raises(ValueError, match="schedule 'step'"):
        forget_weight(1, 0, 1, "step")


def test_relabel_targets() -> None:
    y = torch.tensor([0, 3, 9])
    assert other_class(y, 10, "next").tolist() == [1, 4, 0]
    for seed in range(20):
        assert (other_class(y, 10, "random", torch.Generator().manual_seed(seed)) != y).all()


def test_unknown_method_and_setting() -> None:
    with pytest.raises(ValueError, match="unknown method 'esd'"):
        method_config("esd")
    with pytest.raises(ValueError, match="sfron has no setting alpha"):
        method_config("sfron", alpha=1)
    assert method_config("sfron", forget_alpha=3).forget_alpha == 3


def test_ewc_penalty_by_hand() -> None:
    pipe = tiny_ddpm()
    method = SelectiveAmnesia.__new__(SelectiveAmnesia)
    params = dict(pipe.unet.named_parameters())
    method.initial = {n: p.detach().clone() for n, p in params.items()}
    method.fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    name = "conv_in.bias"
    method.fisher[name][0] = 2.0
    with torch.no_grad():
        params[name][0] += 3.0  # F·Δθ² = 2·9
        params["conv_out.bias"][0] += 5.0  # zero Fisher: no penalty

    class Unwrapped:
        unwrapped_model = pipe.unet

    method.trainer = Unwrapped()
    assert math.isclose(method.ewc_penalty().item(), 18.0, rel_tol=1e-6)


def test_sfron_takes_the_remain_gradient_at_the_fast_weights(monkeypatch) -> None:
    pipe = tiny_ddpm()
    seen: list[dict[str, torch.Tensor]] = []
    original = Trainer.optimizer_step

    def spy(self, micro_loss, mask=None, max_grad_norm=None):
        seen.append(cpu_state(self.unwrapped_model))
        return original(self, micro_loss, mask, max_grad_norm)

    monkeypatch.setattr(Trainer, "optimizer_step", spy)
    before = cpu_state(pipe.unet)
    training = TrainingConfig(steps=1, batch_size=4, progress=False)
    erased = erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, fisher_batches=2, lr=1e-2)
    assert len(seen) == 2, "one forget step, then one remain step"
    forget_at, remain_at = seen
    assert all(torch.equal(forget_at[n], before[n]) for n in before), "the forget step starts at θ"
    moved = [n for n in before if not torch.equal(remain_at[n], before[n])]
    assert moved, "the remain gradient is taken at the fast weights θ′, after the forget step"
    after = cpu_state(erased.unet)
    assert any(not torch.equal(after[n], remain_at[n]) for n in before), "then the remain step moves θ′"


# The tests below that ask a run at the original to leave every weight bit-identical run on the CPU. On an H200
# the tiny DDPM's weights moved there (the DiT's did not): a GPU's forward of the model and of its frozen copy need
# not agree to the last bit, and Adam turns even a rounding-sized gradient into a full step. That the remain loss
# at the original is zero up to rounding is checked on the training device, by the next test.
EXACT_DEVICE = "cpu"


@pytest.mark.parametrize("kind", ["ddpm", "dit"])
@pytest.mark.parametrize("guidance", [None, 3.0])
def test_sfron_remain_loss_at_the_original_is_zero_on_the_training_device(
    kind: str, guidance: float | None, tmp_path
) -> None:
    pipe = tiny_ddpm() if kind == "ddpm" else tiny_dit()
    training = TrainingConfig(steps=1, batch_size=4, progress=False)  # the machine's accelerator where it has one
    settings = {"fisher_batches": 2, "forget_alpha": 0.0, "remain_guidance": guidance, "lr": 1e-2}
    erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, output_dir=tmp_path / "erased", **settings)
    record = json.loads((tmp_path / "erased" / "run.json").read_text())
    (step,) = record["loss_history"]
    assert step["forget"] > 0.1, "the forget loss is a real denoising loss, so the remain loss below is not trivially 0"
    assert step["remain"] < 1e-8, f"at the original the teacher's target is met on {record['device']}: {step}"


def differs(state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> bool:
    """Whether any tensor of `state` differs from the one of the same name in `reference` (both on the CPU)."""
    return any(not torch.equal(t, reference[n]) for n, t in state.items())


@pytest.mark.parametrize("kind", ["ddpm", "dit"])
def test_sfron_remain_step_can_distil_the_original(kind: str, tmp_path) -> None:
    pipe = tiny_ddpm() if kind == "ddpm" else tiny_dit()
    before = cpu_state(pipe.denoiser)
    training = TrainingConfig(steps=2, batch_size=4, progress=False, device=EXACT_DEVICE)

    def run(target: str, alpha: float, output_dir=None):
        settings = {"fisher_batches": 2, "forget_alpha": alpha, "remain_target": target, "lr": 1e-2}
        return erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, output_dir=output_dir, **settings)

    def moved(erased) -> bool:
        return differs(cpu_state(erased.denoiser), before)

    assert not moved(run("original", 0.0)), "at the original the distillation target is met: nothing moves"
    assert moved(run("data", 0.0)), "while the data loss moves the same weights"
    assert moved(run("original", 10.0, tmp_path / "erased"))
    history = json.loads((tmp_path / "erased" / "run.json").read_text())["loss_history"]
    assert len(history) == 2 and all(h["remain"] > 0 for h in history), (
        "after each forget step the remain step is pulled to the frozen original, not to the weights being trained"
    )
    with pytest.raises(ValueError, match="remain_target"):
        run("teacher", 0.0)


@pytest.mark.parametrize("kind", ["ddpm", "dit"])
def test_sfron_remain_guidance_distils_the_guided_prediction(kind: str) -> None:
    pipe = tiny_ddpm() if kind == "ddpm" else tiny_dit()
    pipe.register_to_config(default_guidance_scale=4.0)
    before = cpu_state(pipe.denoiser)
    training = TrainingConfig(steps=2, batch_size=4, progress=False, device=EXACT_DEVICE)

    def erased_state(**settings) -> dict[str, torch.Tensor]:
        settings = {"fisher_batches": 2, "lr": 1e-2, **settings}
        return cpu_state(erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, **settings).denoiser)

    assert not differs(erased_state(forget_alpha=0.0, remain_guidance=3.0), before), "the original meets the target"
    plain, guided = erased_state(remain_guidance=None), erased_state(remain_guidance=3.0)
    assert differs(guided, plain), "the guided prediction is another target than each label's own branch"
    assert not differs(erased_state(remain_guidance=1.0), plain), "at scale 1 the guided prediction is the branch's"
    assert not differs(erased_state(), erased_state(remain_guidance=4.0)), "by default, the pipeline's own scale"
    data = erased_state(remain_target="data", remain_guidance=None)
    assert not differs(erased_state(remain_target="data"), data), "the data target ε has no guided form"
    with pytest.raises(ValueError, match="remain_guidance"):
        erased_state(remain_guidance=3.0, remain_target="data")
    with pytest.raises(ValueError, match="remain_guidance"):
        erased_state(remain_guidance="strong")


@pytest.mark.parametrize("kind", ["ddpm", "dit"])
def test_sfron_forget_loss_ceiling_stops_the_ascent_of_samples_above_it(kind: str) -> None:
    pipe = tiny_ddpm() if kind == "ddpm" else tiny_dit()
    before = cpu_state(pipe.denoiser)
    training = TrainingConfig(steps=2, batch_size=4, progress=False)

    def erased_state(ceiling: float | None) -> dict[str, torch.Tensor]:
        settings = {"fisher_batches": 2, "remain_alpha": 0.0, "lr": 1e-2, "forget_loss_ceiling": ceiling}
        return cpu_state(erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, **settings).denoiser)

    unbounded = erased_state(None)
    assert differs(unbounded, before), "without a ceiling the forget step alone moves the weights"
    assert not differs(erased_state(100.0), unbounded), "a ceiling above every sample's loss changes nothing"
    assert not differs(erased_state(1e-9), before), "every sample is above the ceiling: no gradient, nothing moves"
    with pytest.raises(ValueError, match="forget_loss_ceiling"):
        erased_state(0.0)


def test_sfron_clips_the_remain_step_only_when_asked() -> None:
    pipe = tiny_ddpm()
    before = cpu_state(pipe.denoiser)
    training = TrainingConfig(steps=1, batch_size=4, progress=False)

    def moved(clip_remain_step: bool) -> float:
        # no forget step (α₀ = 0), so the remain target is the data's ε (the original's own prediction would give a
        # zero gradient), and a clip so small that Adam's ε swallows a clipped gradient
        settings = {"forget_alpha": 0.0, "remain_target": "data", "max_grad_norm": 1e-12, "lr": 1e-2}
        settings["clip_remain_step"] = clip_remain_step
        erased = erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, **FAST["sfron"], **settings)
        return max((p - before[n]).abs().max().item() for n, p in cpu_state(erased.denoiser).items())

    assert moved(True) < 1e-4, "the clipped remain gradient is too small to move anything"
    assert moved(False) > 1e-3, "the unclipped remain gradient takes a full Adam step"


def test_salun_moves_only_parameters_inside_its_mask() -> None:
    pipe = tiny_ddpm()
    before = cpu_state(pipe.unet)
    training = TrainingConfig(steps=3, batch_size=4, progress=False, device="cpu")
    erased = erase(pipe, 1, "salun", data=tiny_sets(pipe), training=training, saliency_batches=2, lr=1e-2)
    # the same mask, recomputed from the same seeded batches on a fresh copy of the model
    config = method_config("salun", saliency_batches=2)
    probe = SalUn(DenoisingObjective(tiny_ddpm()), tiny_sets(pipe), config, training)
    probe.prepare()
    assert 0.45 < mask_density(probe.mask) < 0.55
    after = cpu_state(erased.unet)
    for name, p in after.items():
        moved = p != before[name]
        assert not moved[~probe.mask[name]].any(), f"{name} moved outside the mask"
    assert any((p != before[n]).any() for n, p in after.items())


@pytest.mark.parametrize("kind", ["ddpm", "dit"])
def test_sfron_learning_rate_left_to_the_denoiser_is_the_one_used_and_recorded(kind: str, tmp_path) -> None:
    pipe = tiny_ddpm() if kind == "ddpm" else tiny_dit()
    expected = DENOISER_LR["unet" if kind == "ddpm" else "transformer"]
    assert method_config("sfron").lr is None and DENOISER_LR["unet"] != DENOISER_LR["transformer"]
    assert method_config("sfron").for_denoiser(pipe.denoiser).lr == expected
    assert method_config("sfron", lr=0.5).for_denoiser(pipe.denoiser).lr == 0.5, "a given lr is kept"
    training = TrainingConfig(steps=1, batch_size=4, progress=False)
    unlearner = SFROn(DenoisingObjective(pipe), tiny_sets(pipe), method_config("sfron"), training)
    assert unlearner.make_optimizer(pipe.denoiser.parameters()).param_groups[0]["lr"] == expected
    erased = erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, output_dir=tmp_path / "erased",
                   **FAST["sfron"])  # fmt: skip
    assert erased.run_record["settings"]["lr"] == expected
    assert json.loads((tmp_path / "erased" / "run.json").read_text())["settings"]["lr"] == expected


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("kind", ["ddpm", "dit"])
def test_every_method_runs_on_both_pipelines_and_leaves_the_input_alone(method: str, kind: str, tmp_path) -> None:
    pipe = tiny_ddpm() if kind == "ddpm" else tiny_dit()
    fingerprint = fingerprint_pipeline(pipe)
    training = TrainingConfig(steps=2, batch_size=4, progress=False)
    out = tmp_path / "erased"
    erased = erase(pipe, 1, method, data=tiny_sets(pipe), training=training, output_dir=out, **FAST[method])
    assert fingerprint_pipeline(pipe) == fingerprint, "the input pipeline must not change"
    assert fingerprint_pipeline(erased) != fingerprint
    record = json.loads((out / "run.json").read_text())
    assert record["method"] == method and record["steps"] == 2 and record["input_pipeline_sha256"] == fingerprint
    assert {"data", "prepare", "train", "save", "total"} <= set(record["timings_s"])
    assert "torch" in record["versions"] and record["settings"]
    reloaded = type(pipe).from_pretrained(out)
    for (n, a), (_, b) in zip(cpu_state(erased.denoiser).items(), cpu_state(reloaded.denoiser).items(), strict=True):
        assert torch.equal(a, b), n
    assert not (tmp_path / "erased.partial").exists()


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch) -> None:
    training = TrainingConfig(steps=4, batch_size=4, checkpoint_every=1, progress=False)
    straight = erase(tiny_ddpm(), 1, "sfron", data=tiny_sets(tiny_ddpm()), training=training, fisher_batches=2)

    original = SFROn.step

    def crash_at_step_two(self, step):
        if step == 2:
            raise KeyboardInterrupt
        return original(self, step)

    monkeypatch.setattr(SFROn, "step", crash_at_step_two)
    out = tmp_path / "erased"
    with pytest.raises(KeyboardInterrupt):
        erase(tiny_ddpm(), 1, "sfron", data=tiny_sets(tiny_ddpm()), training=training, output_dir=out, fisher_batches=2)
    assert not out.exists() and (tmp_path / "erased.partial" / "checkpoint").is_dir()
    monkeypatch.setattr(SFROn, "step", original)
    training.resume = True
    resumed = erase(
        tiny_ddpm(), 1, "sfron", data=tiny_sets(tiny_ddpm()), training=training, output_dir=out, fisher_batches=2
    )
    for (n, a), (_, b) in zip(cpu_state(straight.unet).items(), cpu_state(resumed.unet).items(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), n


@pytest.mark.parametrize("method", ["sfron", "salun"])
def test_masks_from_the_cache_give_the_same_run_as_computing_them(method: str) -> None:
    training = TrainingConfig(steps=2, batch_size=4, progress=False, seed=5)
    settings = {"fisher_batches": 2} if method == "sfron" else {"saliency_batches": 2}
    pipe = tiny_ddpm()
    cache = cache_dir() / "masks"
    before = set(cache.rglob("*.safetensors")) if cache.exists() else set()
    computed = erase(pipe, 1, method, data=tiny_sets(pipe), training=training, seed=5, **settings)
    assert set(cache.rglob("*.safetensors")) - before, "the first run writes its mask statistics to the cache"
    cached = erase(pipe, 1, method, data=tiny_sets(pipe), training=training, seed=5, **settings)
    for (n, a), (_, b) in zip(cpu_state(computed.unet).items(), cpu_state(cached.unet).items(), strict=True):
        assert torch.equal(a, b), n


def test_data_free_sets_are_generated_once_cached_as_uint8_and_memory_mapped() -> None:
    pipe = tiny_ddpm()
    config = DataFreeConfig(forget=3, remain=5, num_inference_steps=2)
    first = data_free_forget_remain(pipe, 2, config, progress=False)
    labels = first.images.labels
    assert (labels[first.forget_indices] == 2).all() and len(first.forget_indices) == 3
    assert sorted(labels[first.remain_indices].tolist()) == [0, 0, 0, 1, 1], "5 spread over classes 0 and 1"
    files = sorted((cache_dir() / "samples").rglob("*.npy"))
    assert files and first.images.images.dtype == np.uint8 and isinstance(first.images.images, np.memmap)
    again = data_free_forget_remain(pipe, 2, config, progress=False)
    assert sorted((cache_dir() / "samples").rglob("*.npy")) == files
    assert np.array_equal(first.images.images, again.images.images)


def test_spread_shares_a_budget_over_classes() -> None:
    assert spread(10, [0, 1, 2, 3, 4]) == {c: 2 for c in range(5)}
    counts = spread(7, range(1000), seed=3)
    assert len(counts) == 7 and set(counts.values()) == {1}, "fewer samples than classes: one each for 7 classes"
    assert spread(7, range(1000), seed=3) == counts and spread(7, range(1000), seed=4) != counts
    assert sum(spread(2500, range(999)).values()) == 2500


def test_data_of_another_shape_is_fitted_to_the_pipeline() -> None:
    pipe = tiny_ddpm()
    labels = torch.arange(12) % 3
    sets = ForgetRemainSets.from_tensors(torch.zeros(12, 3, 28, 20, dtype=torch.uint8) + 255, labels, 1)
    erased = erase(pipe, 1, "ft", data=sets, training=TrainingConfig(steps=1, batch_size=4, progress=False))
    assert erased.run_record["data"]["image_shape"] == [1, 8, 8]
    image, _, _ = sets.with_shape(pipe.image_shape).images[0]
    assert image.shape == (1, 8, 8) and image.dtype == torch.uint8 and (image == 255).all()


def test_runs_with_other_precision_in_the_same_process() -> None:
    pipe = tiny_ddpm()
    for precision in ("no", "bf16", "no"):
        training = TrainingConfig(steps=1, batch_size=2, mixed_precision=precision, progress=False, device="cpu")
        erased = erase(pipe, 1, "ft", data=tiny_sets(pipe), training=training)
        assert erased.run_record["training"]["mixed_precision"] == precision
        assert all(p.dtype == torch.float32 for p in erased.unet.parameters())
        assert erased.run_record["device"] == "cpu"


def test_the_device_asked_for_is_the_one_accelerate_must_be_on() -> None:
    cuda0, cuda1, cpu = torch.device("cuda:0"), torch.device("cuda:1"), torch.device("cpu")
    assert runs_on(cpu, cpu) and runs_on(cuda1, torch.device("cuda")) and runs_on(cuda0, cuda0)
    assert not runs_on(cuda0, cpu), "a CPU run after a GPU run must leave the GPU"
    assert not runs_on(cpu, cuda0) and not runs_on(cuda0, cuda1)
    assert runs_on(cuda0 if torch.cuda.is_available() else cpu, None)  # None: a GPU where there is one
    assert runs_on(cpu, None) != torch.cuda.is_available()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: moving between GPU and CPU in one process")
def test_runs_move_between_the_gpu_and_the_cpu_in_one_process() -> None:
    pipe = tiny_ddpm()
    for device, expected in (("cuda", "cuda"), ("cpu", "cpu"), (None, "cuda"), ("cpu", "cpu")):
        training = TrainingConfig(steps=1, batch_size=2, progress=False, device=device)
        erased = erase(pipe, 1, "ft", data=tiny_sets(pipe), training=training)
        assert erased.run_record["device"].startswith(expected), (device, erased.run_record["device"])


def test_fp16_on_cpu_is_a_clear_error() -> None:
    pipe = tiny_ddpm()
    training = TrainingConfig(steps=1, mixed_precision="fp16", progress=False, device="cpu")
    with pytest.raises(ValueError, match="fp16 mixed precision needs a GPU"):
        erase(pipe, 1, "ft", data=tiny_sets(pipe), training=training)


def test_fingerprint_depends_on_weights_not_on_where_they_were_loaded_from(tmp_path) -> None:
    pipe = tiny_ddpm()
    pipe.save_pretrained(tmp_path / "a")
    pipe.save_pretrained(tmp_path / "b")
    a = type(pipe).from_pretrained(tmp_path / "a")
    b = type(pipe).from_pretrained(tmp_path / "b")
    assert fingerprint_pipeline(a) == fingerprint_pipeline(b) == fingerprint_pipeline(pipe)
    with torch.no_grad():
        b.unet.conv_out.bias.add_(1e-3)
    assert fingerprint_pipeline(b) != fingerprint_pipeline(a)


def test_grey_data_is_converted_to_a_dit_pipelines_rgb() -> None:
    pipe = tiny_dit()
    labels = torch.arange(10) % pipe.num_classes
    sets = ForgetRemainSets.from_tensors(torch.full((10, 1, 8, 8), 100, dtype=torch.uint8), labels, 1)
    image, _, _ = sets.with_shape(pipe.image_shape).images[3]
    assert image.shape == (3, 8, 8) and (image == 100).all()
    erased = erase(pipe, 1, "ft", data=sets, training=TrainingConfig(steps=1, batch_size=2, progress=False))
    assert erased.run_record["data"]["image_shape"] == [3, 8, 8]


def test_a_class_without_samples_is_a_clear_error() -> None:
    pipe = tiny_ddpm()
    sets = ForgetRemainSets.from_tensors(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 0, 2, 2]), 1)
    with pytest.raises(ValueError, match="no sample of class 1"):
        erase(pipe, 1, "ft", data=sets, training=TrainingConfig(steps=1, progress=False))


def test_fingerprint_hashes_zero_dimensional_tensors() -> None:
    holder = types.SimpleNamespace(config={"x": 1}, components={"norm": torch.nn.BatchNorm2d(3)})
    assert len(fingerprint_pipeline(holder)) == 64  # BatchNorm's num_batches_tracked is a 0-dim tensor


def test_relabelling_avoids_the_other_forgotten_classes() -> None:
    y = torch.tensor([3, 7, 3, 7])
    assert other_class(y, 10, "next", exclude=(3, 7)).tolist() == [4, 8, 4, 8]
    assert other_class(torch.tensor([6]), 10, "next", exclude=(3, 7)).tolist() == [8]
    drawn = other_class(torch.full((4000,), 3), 10, "random", torch.Generator().manual_seed(0), exclude=(3, 7))
    counts = torch.bincount(drawn, minlength=10)
    assert counts[3] == counts[7] == 0 and (counts[[0, 1, 2, 4, 5, 6, 8, 9]] > 400).all(), counts
    with pytest.raises(ValueError, match="no class is left"):
        other_class(torch.tensor([0]), 2, "next", exclude=(0, 1))


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_erases_several_classes_in_one_run(method: str, tmp_path) -> None:
    pipe = tiny_ddpm(num_classes=4)
    sets = tiny_sets(pipe, forget_class=(1, 3))
    assert sets.forget_classes == (1, 3) and set(sets.images.labels[sets.forget_indices].tolist()) == {1, 3}
    training = TrainingConfig(steps=2, batch_size=4, progress=False)
    erased = erase(pipe, "1,3", method, data=sets, training=training, output_dir=tmp_path / "e", **FAST[method])
    record = json.loads((tmp_path / "e" / "run.json").read_text())
    assert record["forget_class"] == [1, 3] and record["data"]["forget_class"] == [1, 3]
    assert fingerprint_pipeline(erased) != fingerprint_pipeline(pipe)
    with pytest.raises(ValueError, match="the data forgets class"):
        erase(pipe, [1, 2], method, data=sets, training=training, **FAST[method])


def test_data_free_sets_spread_the_forget_budget_over_several_classes() -> None:
    pipe = tiny_ddpm(num_classes=4)
    config = DataFreeConfig(forget=4, remain=4, num_inference_steps=2)
    sets = data_free_forget_remain(pipe, [0, 2], config, progress=False)
    labels = sets.images.labels
    assert sorted(labels[sets.forget_indices].tolist()) == [0, 0, 2, 2]
    assert sorted(labels[sets.remain_indices].tolist()) == [1, 1, 3, 3]
