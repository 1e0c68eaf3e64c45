"""A DiT-XL/2-256 with random weights, in facebook/DiT-XL-2-256's layout: for speed and memory benchmarks.

    python scripts/make_random_dit_xl.py --output runs/dit-xl-2-256-random

The transformer has DiT-XL/2's real configuration (28 layers, 16 heads × 72, patch 2, 4×32×32 latents,
learned sigma, 1000 classes + the null label 1000), the VAE the Stable Diffusion configuration
(128/256/512/512 channels, 4 latent channels, scaling 0.18215) and the scheduler DiT's linear-beta
DDIM. `model_index.json` holds ImageNet's class names (torchvision's list) as `id2label`, and the
transformer config is the legacy `Transformer2DModel` one, as on the hub. Nothing is downloaded: the
weights are random, so the images are noise, but every tensor has the size and layout of the real model.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiTTransformer2DModel
from torchvision.models._meta import _IMAGENET_CATEGORIES

from gen_unlearn.hub import save_dit_hub_layout

logger = logging.getLogger("make_random_dit_xl")


def dit_xl_2_256() -> DiTTransformer2DModel:
    return DiTTransformer2DModel(
        num_attention_heads=16,
        attention_head_dim=72,
        in_channels=4,
        out_channels=8,  # learned sigma
        num_layers=28,
        sample_size=32,
        patch_size=2,
        num_embeds_ada_norm=1000,
    )


def sd_vae() -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=256,
        scaling_factor=0.18215,
    )


def dit_scheduler() -> DDIMScheduler:
    return DDIMScheduler(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", clip_sample=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="the pipeline directory to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.time()
    torch.manual_seed(args.seed)
    transformer, vae = dit_xl_2_256(), sd_vae()
    millions = [sum(p.numel() for p in module.parameters()) / 1e6 for module in (transformer, vae)]
    logger.info("transformer: %.1fM parameters; VAE: %.1fM", *millions)
    id2label = dict(enumerate(_IMAGENET_CATEGORIES))
    save_dit_hub_layout(transformer, vae, dit_scheduler(), id2label, args.output)
    logger.info("wrote %s in %.0f s", args.output, time.time() - start)


if __name__ == "__main__":
    main()
