"""Train the shipped reference pipelines (pixel DDPM or latent DiT) from scratch, on MNIST or Fashion-MNIST.

    python scripts/train_reference_diffusion.py ddpm --output runs/mnist-ddpm --max-minutes 90
    python scripts/train_reference_diffusion.py dit --vae runs/mnist-vae --output runs/mnist-dit
    python scripts/train_reference_diffusion.py ddpm --dataset fashion-mnist --output runs/fashion-ddpm

`--exclude-class C` (or "3,7") trains the same recipe on the training set without those classes: the
retrained reference, the gold standard an unlearning method is compared with. The pipeline keeps every
class's label (same layout as the original); the excluded labels' embeddings are simply never trained.

Epsilon prediction, cosine noise schedule, classifier-free guidance training (label dropout 0.1),
AdamW with warm-up and cosine decay, an EMA of the weights (what gets saved), bf16 autocast on CPU.
A checkpoint is written atomically every --checkpoint-every steps; rerunning the same command resumes.
The pipeline is saved (EMA weights) to --output/pipeline with a training record in --output/train.json.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DiTTransformer2DModel, DPMSolverMultistepScheduler, UNet2DModel
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from gen_unlearn.data import LabeledImages, forget_classes, load_dataset
from gen_unlearn.denoiser import DenoisingObjective
from gen_unlearn.io import library_versions, load_torch, save_torch, write_json
from pipelines import ClassConditionalDDPMPipeline, ClassConditionalDiTPipeline

NUM_CLASSES = 10


def noise_scheduler(pixel_space: bool) -> DPMSolverMultistepScheduler:
    """The shipped sampler: SDE DPM-Solver++ (2nd order) at 25 steps.

    With the cosine schedule, ᾱ at the last training step is ~0 and the first solver step divides
    by √ᾱ: `lambda_min_clipped=-5.1` (diffusers' advice for this schedule) skips those steps; without
    it the latent DiT drew blobs. The SDE variant matched 50 ancestral DDPM steps on the reference
    DDPM where the deterministic solver drew too-thick strokes. Dynamic thresholding (x0 clipped to
    [-1, 1]) only in pixel space.
    """
    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        algorithm_type="sde-dpmsolver++",
        solver_order=2,
        lambda_min_clipped=-5.1,
        thresholding=pixel_space,
        sample_max_value=1.0,
    )


def build_ddpm(names: list[str], guidance: float = 2.0) -> ClassConditionalDDPMPipeline:
    unet = UNet2DModel(
        sample_size=28,
        in_channels=1,
        out_channels=1,
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=32,
        num_class_embeds=NUM_CLASSES + 1,
    )
    return ClassConditionalDDPMPipeline(
        unet,
        noise_scheduler(pixel_space=True),
        id2label=dict(enumerate(names)),
        default_guidance_scale=guidance,
        default_num_inference_steps=25,
    )


def build_dit(vae: AutoencoderKL, names: list[str], guidance: float = 2.0) -> ClassConditionalDiTPipeline:
    """A 6-layer DiT over 7×7 tokens: a 7×7 latent in patches of 1, a 14×14 one in patches of 2."""
    latent_size = 28 // 2 ** (len(vae.config.block_out_channels) - 1)
    transformer = DiTTransformer2DModel(
        num_attention_heads=4,
        attention_head_dim=32,
        in_channels=vae.config.latent_channels,
        out_channels=vae.config.latent_channels,
        num_layers=6,
        sample_size=latent_size,
        patch_size=latent_size // 7,
        norm_num_groups=32,
        num_embeds_ada_norm=NUM_CLASSES,
    )
    return ClassConditionalDiTPipeline(
        transformer,
        vae,
        noise_scheduler(pixel_space=False),
        id2label=dict(enumerate(names)),
        default_guidance_scale=guidance,
        default_num_inference_steps=25,
    )


def training_set(dataset: str, data_root: str | None, excluded: tuple[int, ...] = ()) -> LabeledImages:
    """The training split, without the `excluded` classes (a retrained reference)."""
    train = load_dataset(dataset, data_root, train=True)
    if excluded:
        train = train.subset(torch.nonzero(~torch.isin(train.labels, torch.tensor(excluded))).flatten())
        print(f"training without class(es) {list(excluded)}: {len(train)} images")
    return train


@dataclass
class TrainingInputs:
    """The denoiser's inputs for every training image: pixels (DDPM), or the VAE posterior's mean and std (DiT)."""

    mean: torch.Tensor
    std: torch.Tensor | None
    labels: torch.Tensor

    @classmethod
    def encode(cls, train: LabeledImages, pipe: ClassConditionalDDPMPipeline | ClassConditionalDiTPipeline):
        images = train.as_model_input()
        vae = getattr(pipe, "vae", None)
        if vae is None:
            return cls(images, None, train.labels)
        means, stds = [], []
        with torch.no_grad():
            for chunk in images.split(1000):
                dist = vae.encode(chunk).latent_dist
                means.append(dist.mean * vae.config.scaling_factor)
                stds.append(dist.std * vae.config.scaling_factor)
        return cls(torch.cat(means), torch.cat(stds), train.labels)

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(self.labels), (size,), generator=generator)
        x0 = self.mean[idx]
        if self.std is not None:  # a latent drawn from the posterior
            x0 = x0 + self.std[idx] * torch.randn(x0.shape, generator=generator)
        return x0, self.labels[idx]


def train_step(
    objective: DenoisingObjective,
    optimizer: torch.optim.Optimizer,
    ema: EMAModel,
    inputs: TrainingInputs,
    batch_size: int,
    label_dropout: float,
    generator: torch.Generator,
) -> float:
    """One step of the recipe: a batch, label dropout, the bf16-autocast denoising loss, clipped AdamW, EMA."""
    x0, y = inputs.batch(batch_size, generator)
    y = objective.drop_labels(y, label_dropout, generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = objective.loss(x0, y, generator=generator).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(objective.trainable.parameters(), 1.0)
    optimizer.step()
    ema.step(objective.trainable.parameters())
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arch", choices=["ddpm", "dit"])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--vae", type=Path, help="trained AutoencoderKL directory (dit only)")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--exclude-class", help="class id(s) left out of training, e.g. 3 or 3,7 (retrained reference)")
    parser.add_argument(
        "--guidance", type=float, default=2.0, help="the pipeline's default guidance scale (Fashion-MNIST: 3.0)"
    )
    parser.add_argument("--data-root")
    parser.add_argument("--steps", type=int, default=100_000, help="upper bound; --max-minutes usually ends training")
    parser.add_argument("--max-minutes", type=float, default=90.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--decay-steps", type=int, default=8000, help="cosine decay length for the learning rate")
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--label-dropout", type=float, default=0.1)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    if args.arch == "dit" and args.vae is None:
        parser.error("dit needs --vae, the AutoencoderKL trained by scripts/train_mnist_vae.py")
    excluded = forget_classes([int(c) for c in args.exclude_class.split(",")]) if args.exclude_class else ()
    train = training_set(args.dataset, args.data_root, excluded)
    names = list(train.class_names)
    if args.arch == "ddpm":
        pipe = build_ddpm(names, args.guidance)
    else:
        pipe = build_dit(AutoencoderKL.from_pretrained(args.vae).eval(), names, args.guidance)
    inputs = TrainingInputs.encode(train, pipe)
    objective = DenoisingObjective(pipe)
    model = objective.trainable
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)

    def lr_at(step: int) -> float:
        warm = min(1.0, (step + 1) / args.warmup)
        progress = min(1.0, step / args.decay_steps)
        return args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    ema = EMAModel(model.parameters(), decay=args.ema_decay, use_ema_warmup=True, power=0.75)
    args.output.mkdir(parents=True, exist_ok=True)
    checkpoint = args.output / "checkpoint.pt"
    step, elapsed = 0, 0.0
    generator = torch.Generator().manual_seed(args.seed)
    if checkpoint.exists():
        state = load_torch(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        ema.load_state_dict(state["ema"])
        generator.set_state(state["generator"])
        step, elapsed = state["step"], state["elapsed"]
        print(f"resumed from step {step} ({elapsed / 60:.1f} min)")

    def save_checkpoint() -> None:
        save_torch(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "ema": ema.state_dict(),
                "generator": generator.get_state(),
                "step": step,
                "elapsed": elapsed,
            },
            checkpoint,
        )

    losses: list[float] = []
    start = time.time() - elapsed
    bar = tqdm(total=args.steps, initial=step, desc=f"train {args.arch}")
    while step < args.steps and (time.time() - start) < args.max_minutes * 60:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss = train_step(objective, optimizer, ema, inputs, args.batch_size, args.label_dropout, generator)
        step += 1
        losses.append(loss)
        bar.update(1)
        bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}", lr=f"{lr_at(step):.1e}")
        if step % args.checkpoint_every == 0:
            elapsed = time.time() - start
            save_checkpoint()
    bar.close()
    elapsed = time.time() - start
    save_checkpoint()

    final = copy.deepcopy(pipe)
    ema.copy_to(final.denoiser.parameters())
    final.denoiser.eval()
    final.save_pretrained(args.output / "pipeline")
    write_json(
        args.output / "train.json",
        {
            "arch": args.arch,
            "dataset": args.dataset,
            "excluded_classes": list(excluded),
            "training_images": len(inputs.labels),
            "steps": step,
            "wall_time_s": round(elapsed, 1),
            "args": vars(args),
            "parameters": sum(p.numel() for p in model.parameters()),
            "hardware": f"CPU, {torch.get_num_threads()} thread(s)",
            "final_loss_mean_last_200": sum(losses[-200:]) / max(1, len(losses[-200:])),
            "versions": library_versions(),
        },
    )
    print(f"saved {args.output / 'pipeline'} after {step} steps, {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
