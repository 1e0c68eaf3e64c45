from __future__ import annotations

import copy

import pytest
import torch
from conftest import tiny_ddpm, tiny_dit
from diffusers import DDPMScheduler

from gen_unlearn import DenoisingObjective


def test_loss_is_the_per_sample_noise_prediction_error(tiny_pipeline) -> None:
    objective = DenoisingObjective(tiny_pipeline)
    x0 = torch.randn(3, *tiny_pipeline.latent_shape)
    y, t = torch.tensor([0, 1, 2]), torch.tensor([0, 17, 49])
    noise = torch.randn_like(x0)
    alpha_bar = DDPMScheduler.from_config(tiny_pipeline.scheduler.config).alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
    with torch.no_grad():
        expected = (tiny_pipeline.predict_noise(x_t, t, y) - noise).pow(2).mean(dim=(1, 2, 3))
        loss = objective.loss(x0, y, t=t, noise=noise)
    assert loss.shape == (3,)
    assert torch.allclose(loss, expected, atol=1e-5)


def test_guided_distillation_compares_the_two_models_guided_predictions(tiny_pipeline) -> None:
    """With a teacher and a scale w, ℓ_i = mean (g_θ − g_θ*)², g = ε(∅) + w(ε(y) − ε(∅)) on the same x_t."""
    objective = DenoisingObjective(tiny_pipeline)
    teacher = copy.deepcopy(tiny_pipeline.denoiser).requires_grad_(False)
    with torch.no_grad():
        for p in tiny_pipeline.denoiser.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    x0 = torch.randn(3, *tiny_pipeline.latent_shape)
    y, t, noise = torch.tensor([0, 1, 2]), torch.tensor([3, 17, 49]), torch.randn(3, *tiny_pipeline.latent_shape)
    x_t = objective.add_noise(x0, t, noise)[0]
    null = torch.full_like(y, tiny_pipeline.null_class_id)

    def guided(model, w: float) -> torch.Tensor:
        cond, uncond = (tiny_pipeline.predict_noise(x_t, t, labels, model=model) for labels in (y, null))
        return uncond + w * (cond - uncond)

    with torch.no_grad():
        for w in (1.0, 3.0):
            expected = (guided(None, w) - guided(teacher, w)).pow(2).flatten(1).mean(1)
            loss = objective.loss(x0, y, t=t, noise=noise, teacher=teacher, guidance=w)
            assert torch.allclose(loss, expected, rtol=1e-4, atol=1e-7), (w, loss, expected)
        plain = objective.loss(x0, y, t=t, noise=noise, teacher=teacher)
        assert not torch.allclose(objective.loss(x0, y, t=t, noise=noise, teacher=teacher, guidance=3.0), plain)
    with pytest.raises(ValueError, match="needs a teacher"):
        objective.loss(x0, y, t=t, noise=noise, guidance=3.0)


def test_loss_has_gradients_for_the_denoiser_only() -> None:
    pipe = tiny_dit()
    objective = DenoisingObjective(pipe)
    x0 = objective.encode(torch.rand(2, 3, 8, 8) * 2 - 1, generator=torch.manual_seed(0))
    assert x0.shape == (2, *pipe.latent_shape)
    objective.loss(x0, torch.tensor([1, 4]), generator=torch.manual_seed(0)).mean().backward()
    assert all(p.grad is not None for p in pipe.transformer.parameters() if p.requires_grad and p.dim() > 1)
    assert all(p.grad is None for p in pipe.vae.parameters())


def test_drop_labels() -> None:
    objective = DenoisingObjective(tiny_ddpm(num_classes=3))
    y = torch.tensor([0, 1, 2, 1] * 250)
    assert torch.equal(objective.drop_labels(y, 0.0), y)
    assert (objective.drop_labels(y, 1.0) == 3).all()
    dropped = (objective.drop_labels(y, 0.1, torch.Generator().manual_seed(0)) == 3).float().mean()
    assert 0.05 < dropped < 0.15


def test_seeded_loss_is_reproducible() -> None:
    objective = DenoisingObjective(tiny_ddpm())
    x0, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        a = objective.loss(x0, y, generator=torch.manual_seed(5))
        b = objective.loss(x0, y, generator=torch.manual_seed(5))
    assert torch.equal(a, b)


def test_refuses_v_prediction() -> None:
    pipe = tiny_ddpm()
    pipe.scheduler = DDPMScheduler.from_config(pipe.scheduler.config, prediction_type="v_prediction")
    with pytest.raises(ValueError, match="epsilon-prediction"):
        DenoisingObjective(pipe)
