"""What an erase costs at real scale on one device: sampling speed, step time, peak memory, projected wall time.

    python scripts/make_random_dit_xl.py --output runs/dit-xl                       # once
    python scripts/benchmark_scale.py runs/dit-xl --device cuda --mixed-precision bf16 \\
        --methods sfron,salun,sa --batch-sizes 32 --output runs/scale-h100
    python scripts/benchmark_scale.py runs/dit-xl --methods sfron --batch-sizes 16 --grad-accum 2 --skip-sampling \\
        --output runs/scale-accumulated     # the same 32 samples a step, in two micro-batches
    python scripts/benchmark_scale.py runs/dit-xl --device cpu --methods sfron --batch-sizes 1 \\
        --timed-steps 1 --set sfron.fisher_batches=2 --skip-sampling --output runs/scale-cpu   # the 2-core CPU

Each measurement runs in a fresh child process, so its peak memory (GPU: `max_memory_allocated`;
CPU: the child's peak RSS) is its own. For each method and batch size it erases with the real
`gen_unlearn.erase` (random images of the pipeline's size as data: the data is not what is timed),
`--warmup-steps` then `--timed-steps` steps, and reports the preparation (mask, Fisher, replay) and
the time per step; the projection is preparation + the method's default steps × s/step. Sampling is
measured in fp32 and bf16 at --sampling-steps with the pipeline's guidance. Prints a table and writes
results.json to --output.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch

logger = logging.getLogger("benchmark_scale")
GIB = 1024**3


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / GIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # Linux: KiB


def random_sets(pipeline, num: int, seed: int = 0):
    from gen_unlearn.data import ForgetRemainSets

    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num) % min(pipeline.num_classes, 8)
    images = torch.randint(0, 256, (num, *pipeline.image_shape), generator=g, dtype=torch.uint8)
    return ForgetRemainSets.from_tensors(images, labels, forget_class=1, source="random-images")


def measure_sampling(args: argparse.Namespace) -> dict:
    from gen_unlearn.hub import load_pipeline
    from gen_unlearn.sampling import sample_counts

    pipeline = load_pipeline(args.pipeline).to(args.device)
    device = torch.device(args.device)
    # one image of each class in turn (a 10-class pipeline gets several per class)
    counts = dict(Counter(i % pipeline.num_classes for i in range(args.sampling_num)))
    # warm-up at the timed batch's shapes (kernel selection, allocator), two steps
    sample_counts(pipeline, counts, num_inference_steps=2, batch_size=args.sampling_num, progress=False,
                  dtype=args.dtype)  # fmt: skip
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.time()
    sample_counts(pipeline, counts, num_inference_steps=args.sampling_steps, batch_size=args.sampling_num,
                  progress=False, dtype=args.dtype)  # fmt: skip
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.time() - start
    return {
        "kind": "sampling",
        "dtype": args.dtype,
        "images": args.sampling_num,
        "steps": args.sampling_steps,
        "guidance": pipeline.config.default_guidance_scale,
        "seconds": seconds,
        "img_per_s": args.sampling_num / seconds,
        "peak_gib": peak_memory_gib(device),
    }


def measure_erase(args: argparse.Namespace) -> dict:
    from gen_unlearn.erasure import erase
    from gen_unlearn.hub import load_pipeline
    from gen_unlearn.loop import TrainingConfig
    from gen_unlearn.methods import METHODS

    pipeline = load_pipeline(args.pipeline)
    device = torch.device(args.device)
    steps = args.warmup_steps + args.timed_steps
    marks: list[float] = []
    training = TrainingConfig(
        steps=steps, batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
        mixed_precision=args.mixed_precision, device=args.device, progress=False,
    )  # fmt: skip
    settings = json.loads(args.settings)

    def on_step(done: int, seconds: float, _) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        marks.append(time.time())

    erased = erase(pipeline, 1, args.method, data=random_sets(pipeline, 4 * args.batch_size), training=training,
                   on_step=on_step, **settings)  # fmt: skip
    timings = erased.run_record["timings_s"]
    if args.warmup_steps:  # the steps after the warm-up ones
        step_s = (marks[-1] - marks[args.warmup_steps - 1]) / args.timed_steps
    else:
        step_s = timings["train"] / steps
    prepare_s = timings["prepare"]
    default_steps = METHODS[args.method].default_steps
    return {
        "kind": "erase",
        "method": args.method,
        "batch_size": args.batch_size,
        "mixed_precision": args.mixed_precision,
        "grad_accum": args.grad_accum,
        "settings": settings,
        "prepare_s": prepare_s,
        "s_per_step": step_s,
        "default_steps": default_steps,
        "projected_s": prepare_s + default_steps * step_s,
        "peak_gib": peak_memory_gib(device),
        "device": erased.run_record["device"],
    }


def run_child(args: argparse.Namespace, **overrides) -> dict:
    """One measurement in a fresh process; a failure (out of memory, say) is a row that says so."""
    argv = [sys.executable, __file__, args.pipeline, "--child", "--device", args.device]
    argv += [f"--{k.replace('_', '-')}={v}" for k, v in overrides.items()]
    argv += ["--mixed-precision", args.mixed_precision, "--warmup-steps", str(args.warmup_steps)]
    argv += ["--timed-steps", str(args.timed_steps), "--sampling-steps", str(args.sampling_steps)]
    argv += ["--sampling-num", str(args.sampling_num), "--grad-accum", str(args.grad_accum)]
    done = subprocess.run(argv, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"kind": overrides.get("what"), **overrides, "error": reason[:200]}
    return json.loads(lines[-1])


def method_settings(args: argparse.Namespace, method: str) -> dict:
    settings = {}
    for item in args.set or []:
        name, _, value = item.partition("=")
        target, _, name = name.rpartition(".")
        if target in ("", method):
            settings[name] = json.loads(value)
    return settings


def batch(row: dict) -> str:
    """The batch size, ×k where each step accumulates k micro-batches of it."""
    k = row.get("grad_accum", 1)
    return str(row["batch_size"]) if k == 1 else f"{row['batch_size']}×{k}"


def table(rows: list[dict]) -> str:
    sampling = [r for r in rows if r.get("kind") == "sampling"]
    lines = ["sampling            dtype   images  steps  img/s    peak GiB"] if sampling else []
    for r in sampling:
        if "error" in r:
            lines.append(f"{'':<20}{r.get('dtype', ''):<8}error: {r['error']}")
            continue
        lines.append(
            f"{'':<20}{r['dtype']:<8}{r['images']:>6}{r['steps']:>7}{r['img_per_s']:>7.2f}{r['peak_gib']:>12.1f}"
        )
    lines += [""] if sampling else []
    lines += ["method   batch  precision  prepare s  s/step   default steps  projected   peak GiB"]
    for r in (r for r in rows if r.get("kind") == "erase"):
        if "error" in r:
            lines.append(f"{r['method']:<8}{batch(r):>6}  error: {r['error']}")
            continue
        lines.append(
            f"{r['method']:<8}{batch(r):>6}  {r['mixed_precision']:<9}{r['prepare_s']:>10.1f}"
            f"{r['s_per_step']:>8.2f}{r['default_steps']:>15}{r['projected_s'] / 60:>9.1f} min{r['peak_gib']:>10.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", help="a pipeline directory (e.g. from make_random_dit_xl.py) or shipped name")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--methods", default="sfron,salun,sa")
    parser.add_argument("--batch-sizes", default="32")
    parser.add_argument("--mixed-precision", default="bf16", choices=["no", "bf16", "fp16"])
    parser.add_argument(
        "--grad-accum",
        type=int,
        default=1,
        help="gradient accumulation steps: each step runs this many micro-batches of the batch size",
    )
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--timed-steps", type=int, default=5)
    parser.add_argument("--sampling-steps", type=int, default=25)
    parser.add_argument("--sampling-num", type=int, default=64, help="images per sampling measurement (one batch)")
    parser.add_argument("--skip-sampling", action="store_true")
    parser.add_argument("--set", action="append", metavar="[METHOD.]NAME=VALUE", help="a method setting")
    parser.add_argument("--output", type=Path)
    # a child process's own measurement
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--what", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--settings", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.child:
        print(json.dumps(measure_sampling(args) if args.what == "sampling" else measure_erase(args)))
        return

    rows = []
    if not args.skip_sampling:
        for dtype in ("fp32", "bf16"):
            rows.append(run_child(args, what="sampling", dtype=dtype))
            logger.info("%s", rows[-1])
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            settings = json.dumps(method_settings(args, method))
            rows.append(run_child(args, what="erase", method=method, batch_size=batch, settings=settings))
            logger.info("%s", rows[-1])
    print(table(rows))
    if args.output:
        from gen_unlearn.io import library_versions, write_json

        device = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else "cpu"
        write_json(args.output / "results.json", {"pipeline": args.pipeline, "device": device, "rows": rows,
                                                  "versions": library_versions()})  # fmt: skip
        (args.output / "table.txt").write_text(table(rows) + "\n")


if __name__ == "__main__":
    main()
