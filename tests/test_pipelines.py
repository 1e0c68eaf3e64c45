from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import tiny_ddpm, tiny_dit, tiny_dit_parts
from diffusers import DDIMScheduler, DiTPipeline, DPMSolverMultistepScheduler, EulerDiscreteScheduler
from PIL import Image

from gen_unlearn import load_pipeline, swap_scheduler
from gen_unlearn.hub import save_dit_hub_layout
from pipelines import ClassConditionalDDPMPipeline, ClassConditionalDiTPipeline, classifier_free_guidance


def test_guidance_formula_on_numbers() -> None:
    cond, uncond = torch.tensor([3.0, -1.0]), torch.tensor([1.0, 1.0])
    assert torch.allclose(classifier_free_guidance(cond, uncond, 0.0), uncond)
    assert torch.allclose(classifier_free_guidance(cond, uncond, 1.0), cond)
    # ε_u + 3 (ε_c − ε_u) = [1 + 3·2, 1 + 3·(−2)]
    assert torch.allclose(classifier_free_guidance(cond, uncond, 3.0), torch.tensor([7.0, -5.0]))


@pytest.mark.parametrize("scale", [0.0, 1.0, 2.5])
def test_guided_noise_combines_conditional_and_null_branches(tiny_pipeline, scale: float) -> None:
    x = torch.randn(2, *tiny_pipeline.latent_shape)
    t = torch.tensor([10, 30])
    y = torch.tensor([0, 2])
    null = torch.full_like(y, tiny_pipeline.null_class_id)
    with torch.no_grad():
        eps_c = tiny_pipeline.predict_noise(x, t, y)
        eps_u = tiny_pipeline.predict_noise(x, t, null)
        guided = tiny_pipeline.guided_noise(x, t, y, scale)
    assert not torch.allclose(eps_c, eps_u), "the null label must change the prediction"
    assert torch.allclose(guided, eps_u + scale * (eps_c - eps_u), atol=1e-5)


def test_null_label_is_num_classes() -> None:
    ddpm = tiny_ddpm(num_classes=3)
    assert (ddpm.num_classes, ddpm.null_class_id, ddpm.unet.config.num_class_embeds) == (3, 3, 4)
    dit = tiny_dit(num_classes=5)
    assert (dit.num_classes, dit.null_class_id) == (5, 5)
    # the null row of DiT's label table is the one after the classes
    embedder = dit.transformer.transformer_blocks[0].norm1.emb.class_embedder
    assert embedder.embedding_table.num_embeddings == 6


def test_class_labels_by_index_and_name_and_errors() -> None:
    pipe = tiny_ddpm(id2label={"0": "cat", "1": "dog, puppy", "2": "bird"})
    assert pipe.class_names == ["cat", "dog", "bird"]
    assert pipe.get_label_ids(["puppy", "Bird", "0"]) == [1, 2, 0]
    with pytest.raises(ValueError, match=r"out of range.*0\.\.2"):
        pipe.class_id(3)
    with pytest.raises(ValueError, match="unknown class name 'fish'"):
        pipe.class_id("fish")
    with pytest.raises(ValueError, match="empty"):
        pipe([])


def test_unet_without_class_embedding_is_refused() -> None:
    pipe = tiny_ddpm()
    pipe.unet.register_to_config(num_class_embeds=None)
    with pytest.raises(ValueError, match="num_class_embeds"):
        ClassConditionalDDPMPipeline(pipe.unet, pipe.scheduler)


@pytest.mark.parametrize("scheduler_cls", [DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler])
def test_scheduler_swap_keeps_noise_schedule_and_samples(tiny_pipeline, scheduler_cls) -> None:
    old = tiny_pipeline.scheduler.config
    tiny_pipeline.scheduler = scheduler_cls.from_config(old)
    assert tiny_pipeline.scheduler.config.num_train_timesteps == old.num_train_timesteps
    assert tiny_pipeline.scheduler.config.beta_schedule == old.beta_schedule
    first = tiny_pipeline([0, 1], num_inference_steps=3, generator=torch.manual_seed(1), output_type="pt").images
    again = tiny_pipeline([0, 1], num_inference_steps=3, generator=torch.manual_seed(1), output_type="pt").images
    assert first.shape[0] == 2 and torch.isfinite(first).all()
    assert torch.equal(first, again)


def test_swap_scheduler_by_name() -> None:
    pipe = swap_scheduler(tiny_ddpm(), "ddim")
    assert isinstance(pipe.scheduler, DDIMScheduler)
    with pytest.raises(ValueError, match="unknown scheduler 'fast'"):
        swap_scheduler(pipe, "fast")


def test_output_types(tiny_pipeline) -> None:
    kwargs = {"num_inference_steps": 2, "guidance_scale": 2.0}
    pt = tiny_pipeline([1, 2], generator=torch.manual_seed(0), output_type="pt", **kwargs).images
    np_images = tiny_pipeline([1, 2], generator=torch.manual_seed(0), output_type="np", **kwargs).images
    pil = tiny_pipeline([1, 2], generator=torch.manual_seed(0), output_type="pil", **kwargs).images
    assert pt.dtype == torch.float32 and 0 <= pt.min() and pt.max() <= 1
    assert np.allclose(np_images, pt.permute(0, 2, 3, 1).numpy())
    assert isinstance(pil[0], Image.Image) and pil[0].size == (pt.shape[3], pt.shape[2])
    with pytest.raises(ValueError, match="output_type 'latent'"):
        tiny_pipeline([1], output_type="latent")
    with pytest.raises(ValueError, match="num_inference_steps must be at least 1"):
        tiny_pipeline([1], num_inference_steps=0)


def test_batch_of_mixed_labels_matches_single_samples(tiny_pipeline) -> None:
    gens = [torch.Generator().manual_seed(s) for s in (5, 6)]
    batch = tiny_pipeline([0, 2], generator=gens, num_inference_steps=3, output_type="pt").images
    single = tiny_pipeline(
        [2], generator=torch.Generator().manual_seed(6), num_inference_steps=3, output_type="pt"
    ).images
    assert torch.allclose(batch[1], single[0], atol=1e-5)


@pytest.mark.parametrize("kind", ["ddpm", "dit"])
def test_save_and_load_round_trip(tmp_path, kind: str) -> None:
    names = {str(i): f"class {i}" for i in range(3 if kind == "ddpm" else 5)}
    pipe = tiny_ddpm(id2label=names) if kind == "ddpm" else tiny_dit(id2label=names)
    pipe.register_to_config(default_guidance_scale=3.0)
    before = pipe([0, 1, 2], generator=torch.manual_seed(7), output_type="pt").images
    pipe.save_pretrained(tmp_path)
    assert list(tmp_path.rglob("*.safetensors")), "weights must be saved as safetensors"
    loaded = type(pipe).from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert (loaded.num_classes, loaded.null_class_id, loaded.class_names) == (
        pipe.num_classes,
        pipe.null_class_id,
        pipe.class_names,
    )
    assert loaded.config.default_guidance_scale == 3.0
    after = loaded([0, 1, 2], generator=torch.manual_seed(7), output_type="pt").images
    assert torch.equal(before, after)
    assert isinstance(load_pipeline(tmp_path), type(pipe))


def test_dit_label_dropout_never_fires_when_predicting() -> None:
    pipe = tiny_dit()
    for block in pipe.transformer.transformer_blocks:
        block.norm1.emb.class_embedder.dropout_prob = 1.0  # would drop every label in train mode
    pipe.transformer.train()
    x, t, y = torch.randn(4, 4, 4, 4), torch.full((4,), 20), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        cond = pipe.predict_noise(x, t, y)
        null = pipe.predict_noise(x, t, torch.full_like(y, pipe.null_class_id))
    assert not torch.allclose(cond, null)
    assert all(b.norm1.emb.class_embedder.dropout_prob == 1.0 for b in pipe.transformer.transformer_blocks)


def _save_in_dit_xl_layout(path, num_classes: int = 1000) -> None:
    """A tiny random model saved the way facebook/DiT-XL-2-256 is on the hub: a diffusers `DiTPipeline` with a
    legacy `Transformer2DModel` transformer config, learned sigma (8 output channels) and ImageNet-style
    comma-separated `id2label` in `model_index.json`."""
    transformer, vae = tiny_dit_parts(num_classes, learned_sigma=True)
    id2label = {i: f"label{i}, synonym{i}" for i in range(num_classes)}
    save_dit_hub_layout(transformer, vae, DDIMScheduler(num_train_timesteps=50), id2label, path)
    index = json.loads((path / "model_index.json").read_text())
    assert index["_class_name"] == "DiTPipeline" and index["transformer"] == ["diffusers", "Transformer2DModel"]


def test_loads_a_diffusers_dit_pipeline_directory(tmp_path) -> None:
    _save_in_dit_xl_layout(tmp_path)
    pipe = load_pipeline(tmp_path)
    assert isinstance(pipe, ClassConditionalDiTPipeline)
    pipe.set_progress_bar_config(disable=True)
    assert (pipe.num_classes, pipe.null_class_id, pipe.learns_sigma) == (1000, 1000, True)
    assert pipe.class_id("synonym42") == 42 and pipe.class_names[7] == "label7"
    ours = pipe(
        ["label3", 999], guidance_scale=4.0, num_inference_steps=3, generator=torch.manual_seed(3), output_type="pt"
    )
    reference = DiTPipeline.from_pretrained(tmp_path)
    reference.set_progress_bar_config(disable=True)
    assert reference.transformer.config.num_embeds_ada_norm == 1000
    theirs = reference(
        [3, 999], guidance_scale=4.0, num_inference_steps=3, generator=torch.manual_seed(3), output_type="pt"
    )
    # same weights, same noise, same guidance: diffusers' own DiTPipeline gives the same images
    assert torch.allclose(ours.images, theirs.images, atol=1e-4)
