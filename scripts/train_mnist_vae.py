"""Train the small `AutoencoderKL` whose C×S×S latents (C = `--latent-channels`, default 4; S = `--latent-size`,
7 or 14, default 7) a DiT denoises. The DiT takes its channels from the VAE and patches S×S into 7×7 tokens.

    python scripts/train_mnist_vae.py --output runs/mnist-vae
    python scripts/train_mnist_vae.py --dataset fashion-mnist --output runs/fashion-vae

Loss: mean squared reconstruction error + `--kl-weight` × KL to N(0, I). After training, the config's
`scaling_factor` is set to 1 / std of the training latents (as Stable Diffusion's VAE does), so the
DiT sees latents of unit variance.

The shipped classifier of the dataset then judges real test images and their reconstructions, class by
class (train.json: `classifier_on_reconstructions`): a class the VAE blurs past recognition caps what a
latent DiT on it can reach. `--measure DIR` does only that for a trained VAE (printed; JSON with --output).
On a 4×7×7 Fashion-MNIST VAE (1,200 steps): real shirts judged shirts 65.2%, their reconstructions 41.8%; coats
84.0% -> 52.8%; T-shirts and pullovers unchanged (first 500 test images of each class). With `--latent-size 14`
(4×14×14, the shipped `fashion-dit`'s VAE): shirts 63.8%, coats 83.6%, test MSE 0.0038 instead of 0.0168.

`--decoder-of DIR` sharpens a trained VAE without moving its latent space: the encoder (and the
`scaling_factor`) stay frozen and only the decoder trains on, so a DiT trained on DIR's latents keeps
working with the new decoder (the DiT is not retrained).

    python scripts/train_mnist_vae.py --dataset fashion-mnist --decoder-of runs/fashion-vae --output runs/fvae-dec
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from tqdm.auto import tqdm

from gen_unlearn.classifier import predict_proba
from gen_unlearn.data import LabeledImages, load_dataset
from gen_unlearn.evaluation.classifiers import DEFAULT_CLASSIFIERS
from gen_unlearn.hub import load_classifier
from gen_unlearn.io import library_versions, write_json
from gen_unlearn.tables import format_table


def build_vae(latent_channels: int = 4, latent_size: int = 7) -> AutoencoderKL:
    """28×28 -> C×7×7 through three encoder blocks (16, 32, 64 channels), or C×14×14 through the last two."""
    blocks = {7: (16, 32, 64), 14: (32, 64)}[latent_size]
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * len(blocks),
        up_block_types=("UpDecoderBlock2D",) * len(blocks),
        block_out_channels=blocks,
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=16,
        sample_size=28,
    )


def reconstruction_accuracy(vae: AutoencoderKL, test: LabeledImages, dataset: str, per_class: int = 500) -> dict:
    """Per class, the share of real test images and of their reconstructions that the dataset's shipped
    classifier puts in the right class (the first `per_class` test images of each class)."""
    classifier = load_classifier(DEFAULT_CLASSIFIERS[dataset])
    result = {}
    for c, name in enumerate(test.class_names):
        real = test.of_class(c).images[:per_class]
        with torch.no_grad():
            x = vae.decode(vae.encode(real.float() / 127.5 - 1).latent_dist.mode()).sample
        reconstructed = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        right = [(predict_proba(classifier, x).argmax(-1) == c).float().mean().item() for x in (real, reconstructed)]
        result[name] = {"real": right[0], "reconstructed": right[1], "images": len(real)}
    rows = [[name, f"{r['real']:.1%}", f"{r['reconstructed']:.1%}"] for name, r in result.items()]
    print(format_table(["class", "real judged right", "reconstruction judged right"], rows))
    return result


def encoder_record(folder: Path) -> dict:
    """The train.json of the VAE whose frozen encoder a decoder-only run kept (empty if it has none)."""
    record = folder / "train.json"
    return json.loads(record.read_text()) if record.is_file() else {}


def fit(vae: AutoencoderKL, images: torch.Tensor, args: argparse.Namespace) -> None:
    """Minimise reconstruction MSE + `kl_weight` × KL over the VAE's trainable parameters (with the
    encoder frozen the KL term is a constant and only the decoder learns)."""
    optimizer = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps)
    bar = tqdm(range(args.steps), desc="train vae decoder" if args.decoder_of else "train vae")
    for _ in bar:
        x = images[torch.randint(0, len(images), (args.batch_size,))]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            posterior = vae.encode(x).latent_dist
            reconstruction = vae.decode(posterior.sample()).sample
        mse = F.mse_loss(reconstruction.float(), x)
        kl = posterior.kl().mean() / posterior.mean[0].numel()
        loss = mse + args.kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(mse=f"{mse.item():.4f}", kl=f"{kl.item():.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="the trained VAE's folder (with --measure: a JSON file)")
    parser.add_argument("--measure", type=Path, help="only judge the reconstructions of this trained VAE")
    parser.add_argument("--decoder-of", type=Path, help="train only the decoder of this trained VAE (encoder frozen)")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data-root")
    parser.add_argument("--latent-channels", type=int, help="C of the C×S×S latents (the DiT's channels; default 4)")
    parser.add_argument("--latent-size", type=int, choices=[7, 14], help="S of the C×S×S latents (default 7)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--kl-weight", type=float, default=1e-4)
    parser.add_argument("--judge-per-class", type=int, default=500, help="test images a class the classifier judges")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.measure:
        if not (args.measure / "config.json").is_file():
            parser.error(f"--measure {args.measure}: no trained AutoencoderKL there (config.json missing)")
        test = load_dataset(args.dataset, args.data_root, train=False)
        vae = AutoencoderKL.from_pretrained(args.measure).eval()
        result = reconstruction_accuracy(vae, test, args.dataset, args.judge_per_class)
        if args.output:
            write_json(args.output, {"vae": str(args.measure), "classifier_on_reconstructions": result})
        return
    if args.output is None:
        parser.error("--output is required to train (or pass --measure DIR)")
    torch.manual_seed(args.seed)

    train = load_dataset(args.dataset, args.data_root, train=True)
    test = load_dataset(args.dataset, args.data_root, train=False)
    images = train.as_model_input()
    if args.decoder_of:
        if not (args.decoder_of / "config.json").is_file():
            parser.error(f"--decoder-of {args.decoder_of}: no trained AutoencoderKL there (config.json missing)")
        for given in ("latent_channels", "latent_size"):
            if getattr(args, given) is not None:
                flag = "--" + given.replace("_", "-")
                parser.error(f"{flag} with --decoder-of: the latents' shape is the trained VAE's; leave {flag} out")
        trained_on = encoder_record(args.decoder_of).get("args", {}).get("dataset", args.dataset)
        if trained_on != args.dataset:
            parser.error(f"--decoder-of {args.decoder_of} was trained on {trained_on}: pass --dataset {trained_on}")
        vae = AutoencoderKL.from_pretrained(args.decoder_of).train()
        vae.encoder.requires_grad_(False)
        vae.quant_conv.requires_grad_(False)
    else:
        vae = build_vae(args.latent_channels or 4, args.latent_size or 7).train()
    start = time.time()
    fit(vae, images, args)
    wall = time.time() - start

    vae.eval()
    with torch.no_grad():
        x_test = test.as_model_input()[:2000]
        test_mse = F.mse_loss(vae.decode(vae.encode(x_test).latent_dist.mode()).sample, x_test).item()
        if not args.decoder_of:  # a frozen encoder keeps the latent scale its DiT was trained on
            latents = torch.cat([vae.encode(c).latent_dist.sample() for c in images[:10000].split(1000)])
            vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    vae.save_pretrained(args.output)
    write_json(
        args.output / "train.json",
        {
            "steps": args.steps,
            "wall_time_s": round(wall, 1),
            "test_mse": test_mse,
            "scaling_factor": vae.config.scaling_factor,
            "classifier_on_reconstructions": reconstruction_accuracy(vae, test, args.dataset, args.judge_per_class),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "hardware": f"CPU, {torch.get_num_threads()} thread(s)",
            "versions": library_versions(),
            **({"encoder_trained_by": encoder_record(args.decoder_of)} if args.decoder_of else {}),
        },
    )
    print(f"test reconstruction mse {test_mse:.4f}, scaling factor {vae.config.scaling_factor:.3f}")


if __name__ == "__main__":
    main()
