"""Shared fixtures: the data root (`../shared/data` beside the checkout), a private cache, tiny real pipelines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, DiTTransformer2DModel, UNet2DModel

from gen_unlearn.data import ForgetRemainSets
from pipelines import ClassConditionalDDPMPipeline, ClassConditionalDiTPipeline

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
os.environ.setdefault("GEN_UNLEARN_DATA_ROOT", str(SHARED / "data"))


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Extracted datasets and cached statistics go to a per-session folder, never into ../shared."""
    if "GEN_UNLEARN_CACHE" in os.environ:
        return Path(os.environ["GEN_UNLEARN_CACHE"])
    path = tmp_path_factory.mktemp("gen_unlearn_cache")
    os.environ["GEN_UNLEARN_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ["GEN_UNLEARN_DATA_ROOT"])
    if not (root / "MNIST" / "raw").is_dir():
        pytest.fail(f"MNIST is not under {root}: run the tests from a checkout with ../shared beside it")
    return root


def one_line_error(capsys: pytest.CaptureFixture, argv: list[str], *fragments: str) -> None:
    """`gen-unlearn ARGV` fails with exit code 2 and a one-line error (no traceback) containing `fragments`."""
    from gen_unlearn.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    message = err.splitlines()[-1]  # what came before is diffusers' loading bar
    assert message.startswith(f"gen-unlearn {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in message, err


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of a module's state: tests compare weights on one device, wherever training ran."""
    return {name: tensor.detach().cpu().clone() for name, tensor in module.state_dict().items()}


def tiny_ddpm(num_classes: int = 3, id2label: dict[str, str] | None = None) -> ClassConditionalDDPMPipeline:
    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
        num_class_embeds=num_classes + 1,
    )
    scheduler = DDPMScheduler(num_train_timesteps=50, beta_schedule="squaredcos_cap_v2")
    pipe = ClassConditionalDDPMPipeline(unet, scheduler, id2label=id2label, default_num_inference_steps=4)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_dit_parts(num_classes: int = 5, learned_sigma: bool = True) -> tuple[DiTTransformer2DModel, AutoencoderKL]:
    torch.manual_seed(0)
    transformer = DiTTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=8 if learned_sigma else 4,
        num_layers=2,
        sample_size=4,
        patch_size=2,
        norm_num_groups=4,
        num_embeds_ada_norm=num_classes,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=8,
    )
    return transformer, vae


def tiny_dit(num_classes: int = 5, id2label: dict[str, str] | None = None) -> ClassConditionalDiTPipeline:
    transformer, vae = tiny_dit_parts(num_classes)
    scheduler = DDIMScheduler(num_train_timesteps=50)
    pipe = ClassConditionalDiTPipeline(transformer, vae, scheduler, id2label=id2label, default_num_inference_steps=4)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sets(pipe, forget_class: int = 1, n: int = 12) -> ForgetRemainSets:
    """Random images of the pipeline's input shape (the VAE's for DiT), labelled 0..K-1."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n * pipe.num_classes) % pipe.num_classes
    images = torch.rand((len(labels), *pipe.image_shape), generator=g) * 2 - 1
    return ForgetRemainSets.from_tensors(images, labels, forget_class, "test")


@pytest.fixture(params=["ddpm", "dit"])
def tiny_pipeline(request: pytest.FixtureRequest) -> ClassConditionalDDPMPipeline | ClassConditionalDiTPipeline:
    return tiny_ddpm() if request.param == "ddpm" else tiny_dit()
