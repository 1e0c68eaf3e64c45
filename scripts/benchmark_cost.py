"""An erase's wall time against retraining's, measured side by side on one machine.

The cost target: an erase takes ≤ 1% of the retrained model's training wall time, on the same machine. The
shipped retrained models' `train.json` times were taken beside other jobs, so comparing them with an erase run
at another time compares two loads as much as two methods. This script measures both in one process, in
turns: each round times `--retrain-steps` steps of the retraining recipe (`train_reference_diffusion.train_step`:
real training batches without the class, bf16 autocast, AdamW, EMA, at the recipe's batch size) and then one
erase of each `--steps` count, for each of `--variants` (SFR-on's settings; default its defaults). The
retraining's wall time is its median time per step × the steps in its `train.json` (the recipe's step cost is
the same at every step); the erase's is measured whole.

    python scripts/benchmark_cost.py --jobs mnist-ddpm:3:mnist-ddpm-without-3,fashion-ddpm:6:fashion-ddpm-without-6 \
        --steps 25,50 --threads 1 --output runs/cost

An erase's time is given in parts: `steps_s` (the unlearning steps), `erase_s` (the erase with the data-free
samples already drawn: copying the denoiser, the mask, the steps) and `sampling_s` (drawing the data-free
samples; with real data there is none). The samples and the mask are drawn and computed once per job, into an
empty cache; the `_pct` columns are each time over the retraining's. Prints the table, writes cost.csv and
cost.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from diffusers.training_utils import EMAModel
from train_reference_diffusion import TrainingInputs, train_step, training_set

from gen_unlearn.cli_common import parse_setting
from gen_unlearn.denoiser import DenoisingObjective
from gen_unlearn.erasure import erase
from gen_unlearn.hub import load_pipeline, training_record
from gen_unlearn.io import CACHE_ENV, library_versions, write_csv, write_json
from gen_unlearn.loop import TrainingConfig
from gen_unlearn.tables import format_table


def recipe(retrained: str) -> dict[str, Any]:
    """The retrained model's train.json (its steps, batch size, learning rate, wall time)."""
    record = training_record(retrained)
    if record is None:
        raise SystemExit(f"{retrained}: no train.json beside it, its recipe is unknown; use a shipped retrained model")
    return record


class RetrainTimer:
    """The retraining recipe, set up once; `seconds_per_step(k)` times k more steps of it."""

    def __init__(self, retrained: str, data_root: str | None, seed: int) -> None:
        self.record = recipe(retrained)
        args = self.record["args"]
        pipe = load_pipeline(retrained).to("cpu")
        self.inputs = TrainingInputs.encode(
            training_set(self.record["dataset"], data_root, tuple(self.record["excluded_classes"])), pipe
        )
        self.objective = DenoisingObjective(pipe)
        model = self.objective.trainable.train()
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=args["lr"], weight_decay=0.0)
        self.ema = EMAModel(model.parameters(), decay=args["ema_decay"], use_ema_warmup=True, power=0.75)
        self.generator = torch.Generator().manual_seed(seed)
        self.batch_size, self.label_dropout = args["batch_size"], args["label_dropout"]

    def seconds_per_step(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            train_step(
                self.objective, self.optimizer, self.ema, self.inputs, self.batch_size, self.label_dropout,
                self.generator,
            )  # fmt: skip
        return (time.perf_counter() - start) / steps


def measure_job(job: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    pipeline_name, forget_class, retrained = job.split(":")
    pipeline = load_pipeline(pipeline_name).to("cpu")
    timer = RetrainTimer(retrained, args.data_root, args.seed)
    timer.seconds_per_step(2)  # warm-up, not counted

    def erase_timings(steps: int, settings: dict[str, Any]) -> dict[str, float]:
        precision = args.mixed_precision
        training = TrainingConfig(steps, seed=args.seed, mixed_precision=precision, device="cpu", progress=False)
        erased = erase(pipeline, int(forget_class), "sfron", training=training, seed=args.seed, **settings)
        return erased.run_record["timings_s"]

    # one step of each variant into the empty cache first: draws the data-free samples, computes the mask
    first = {label: erase_timings(1, settings) for label, settings in args.variants.items()}
    for label in first:  # variants that share the samples or the mask found them cached: the first run's times
        first[label] = {k: max(v, next(iter(first.values()))[k]) for k, v in first[label].items()}
    per_step: list[float] = []
    erases: dict[tuple[str, int], list[dict[str, float]]] = {}
    for round_ in range(args.rounds):
        per_step.append(timer.seconds_per_step(args.retrain_steps))
        for label, settings in args.variants.items():
            for steps in args.steps:
                erases.setdefault((label, steps), []).append(erase_timings(steps, settings))
        print(f"{pipeline_name} round {round_ + 1}/{args.rounds}: retraining {per_step[-1]:.3f} s/step", flush=True)
    retrain = {"retrain_s_per_step": statistics.median(per_step), "retrain_steps": timer.record["steps"]}
    retrain["retrain_s"] = retrain["retrain_s_per_step"] * retrain["retrain_steps"]
    job_row = {"pipeline": pipeline_name, "forget_class": int(forget_class), "retrained": retrained}
    job_row.update(mixed_precision=args.mixed_precision, train_json_wall_time_s=timer.record["wall_time_s"])
    rows = []
    for (label, steps), timings in erases.items():
        cost = cost_row(timings, first[label], retrain["retrain_s"])
        rows.append({**job_row, "settings": label, "steps": steps, **cost, **retrain})
    return rows


def cost_row(timings: list[dict[str, float]], first: dict[str, float], retrain_s: float) -> dict[str, float]:
    """An erase's times (medians over the rounds; the samples and mask from its first, uncached run) and their
    shares of the retraining's."""
    steps_s = statistics.median(t["train"] for t in timings)
    erase_s = statistics.median(t["copy"] for t in timings) + first["prepare"] + steps_s
    return {
        "steps_s": steps_s, "mask_s": first["prepare"], "erase_s": erase_s, "sampling_s": first["data"],
        "steps_pct": 100 * steps_s / retrain_s, "erase_pct": 100 * erase_s / retrain_s,
        "erase_with_sampling_pct": 100 * (erase_s + first["data"]) / retrain_s,
    }  # fmt: skip


def variants(texts: list[str]) -> dict[str, dict[str, Any]]:
    """--variants: each a space-separated list of SFR-on settings NAME=VALUE ("" = the defaults), by label."""
    return {text or "defaults": dict(parse_setting(item) for item in text.split()) for text in texts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", default="mnist-ddpm:3:mnist-ddpm-without-3,fashion-ddpm:6:fashion-ddpm-without-6")
    parser.add_argument("--steps", default="25,50", help="erase lengths to time, e.g. 25,50")
    parser.add_argument("--retrain-steps", type=int, default=20, help="retraining steps timed per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (the recipe used 1)")
    parser.add_argument(
        "--mixed-precision", default="no", choices=["no", "bf16"], help="the erase's (the recipe trained in bf16)"
    )
    parser.add_argument(
        "--variants", nargs="+", default=[""], help='SFR-on settings to time, each "NAME=VALUE ..." ("" = defaults)'
    )
    parser.add_argument("--data-root", help="MNIST / Fashion-MNIST in torchvision's layout (default: the cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("runs/cost"))
    args = parser.parse_args()
    args.steps = [int(s) for s in args.steps.split(",")]
    args.variants = variants(args.variants)
    if args.rounds < 1 or args.retrain_steps < 1 or min(args.steps) < 1:
        parser.error("--rounds, --retrain-steps and every --steps must be at least 1")
    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ[CACHE_ENV] = cache  # an empty cache: the data-free samples are drawn (and timed) once per job
        for job in args.jobs.split(","):
            rows += measure_job(job, args)
    columns = ["pipeline", "settings", "steps", "steps_s", "erase_s", "sampling_s", "retrain_s", "steps_pct",
               "erase_pct", "erase_with_sampling_pct"]  # fmt: skip
    print("\n" + format_table(columns, [[r[c] for c in columns] for r in rows]))
    device = f"CPU, {torch.get_num_threads()} thread(s), {os.cpu_count()} cores"
    write_csv(args.output / "cost.csv", rows)
    write_json(args.output / "cost.json", {"rows": rows, "args": vars(args) | {"output": str(args.output)},
                                           "device": device, "versions": library_versions()})  # fmt: skip
    print(f"\nwrote {args.output}/cost.csv and cost.json ({device})")


if __name__ == "__main__":
    main()
