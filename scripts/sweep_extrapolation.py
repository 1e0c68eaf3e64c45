"""Memorize-to-Forget's extrapolation factor α: one memorization model, FA and TA at every α.

    python scripts/sweep_extrapolation.py --dataset mnist --forget-class 3 --lr 1e-3 --alphas 0.5,1,2,3,4,6
    python scripts/sweep_extrapolation.py --set kl_weight=10 --alphas 1,2,4,8,16

θ_mem is trained once with the method's defaults (or --set overrides); then θ_ref + α(θ_ref − θ_mem) is
measured for each α: FA on the forget set, TA on the test set and its gap to the retrained model. Prints a
table and writes results.json and fa_ta_vs_alpha.png to --output. The method forgets at some α without
costing more than a point of TA only where a row has FA ≤ 1 and |TA gap| ≤ 1.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from gen_unlearn.classification import ClassificationExperiment, classification_method_config
from gen_unlearn.classification.memorize_to_forget import MemorizeToForget
from gen_unlearn.classification.metrics import evaluate_classifier
from gen_unlearn.cli_common import parse_setting
from gen_unlearn.io import atomic_path, library_versions, write_json


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    alphas = [row["alpha"] for row in rows]
    ax.plot(alphas, [row["FA"] for row in rows], "o-", label="FA (forget set)")
    ax.plot(alphas, [row["TA"] for row in rows], "s-", label="TA (test set)")
    ax.axhline(rows[0]["retrain_TA"], color="gray", linestyle="--", label="TA of the retrained model")
    ax.set(xlabel="extrapolation factor α", ylabel="%", title=title)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--forget-class", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alphas", default="0.5,1,1.5,2,3,4,6,8")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a memorization setting")
    parser.add_argument("--data-root")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's choice)")
    parser.add_argument("--output", type=Path, default=Path("runs/sweep_extrapolation"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        alphas = [float(a) for a in args.alphas.split(",")]
    except ValueError:
        parser.error(f"--alphas {args.alphas!r}: give numbers separated by commas, for example --alphas 1,2,4")
    try:
        config = classification_method_config("memorize-to-forget", **dict(parse_setting(s) for s in args.set))
    except ValueError as error:
        parser.error(str(error))

    experiment = ClassificationExperiment.load(
        args.dataset, forget_class=args.forget_class, seed=args.seed, data_root=args.data_root, device="cpu"
    )
    retrain_ta = experiment.evaluate(experiment.retrained().model)["TA"]
    method = MemorizeToForget(experiment.original().model, experiment.splits, config, seed=args.seed)
    method.extrapolate_at_finish = False
    start = time.time()
    memorized = method.run(progress=True).model
    memorize_s = time.time() - start

    rows = []
    print(f"{args.dataset} class {args.forget_class}, seed {args.seed}; retrain TA {retrain_ta:.2f}")
    print(f"{'α':>6} {'FA':>7} {'TA':>7} {'TA gap':>8}")
    for alpha in alphas:
        model = method.extrapolate_into(copy.deepcopy(memorized), alpha).eval()
        metrics = evaluate_classifier(model, experiment.splits, seed=args.seed)
        rows.append({"alpha": alpha, "FA": metrics["FA"], "TA": metrics["TA"], "retrain_TA": retrain_ta})
        print(f"{alpha:6g} {metrics['FA']:7.2f} {metrics['TA']:7.2f} {metrics['TA'] - retrain_ta:+8.2f}", flush=True)

    args.output.mkdir(parents=True, exist_ok=True)
    record = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "config": vars(config),
        "memorization_time_s": memorize_s,
        "rows": rows,
        "versions": library_versions(),
    }
    write_json(args.output / "results.json", record)
    plot(rows, args.output / "fa_ta_vs_alpha.png", f"Memorize-to-Forget, {args.dataset} class {args.forget_class}")
    print(f"wrote {args.output}/results.json and fa_ta_vs_alpha.png")


if __name__ == "__main__":
    main()
