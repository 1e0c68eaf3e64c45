"""SFR-on's settings side by side on one job: each variant erased, then evaluated on the benchmark's protocol.

    python scripts/sweep_sfron.py mnist-ddpm 3 --retrained mnist-ddpm-without-3 --inception ../shared/weights \
        --variants "" "remain_guidance=null" "lr=0.0002 mixed_precision=bf16" --output runs/sweep-mnist

Each variant is a space-separated list of SFR-on settings NAME=VALUE ("" = the defaults), plus `steps=N`,
`mixed_precision=bf16` and `data_free_remain=N` for the loop and the data-free samples. The evaluation is
`scripts/benchmark_methods.py`'s (20 samples per class, reject-aware FA, torch-fidelity FID of the remaining-class
samples against 200 real test images per class, over the retrained model's FID on the same protocol), so a row
here equals that benchmark's row for the same settings. Without `--retrained` only FA and RA are measured.
Each row is kept in its own file under `--output`, in a folder named by the protocol (pipeline, class, samples
per class, reference images per class, retrained model), keyed by that protocol, the variant's resolved settings and
the seed: a rerun skips what was measured, a change of defaults re-measures, and other samples never mix with these
(nor overwrite them). Several sweeps may write one `--output` at once. Prints the folder's table and writes it to
`results.csv` there.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gen_unlearn.cli_common import parse_setting
from gen_unlearn.erasure import erase, method_config
from gen_unlearn.evaluation import evaluate
from gen_unlearn.evaluation.classifiers import classifier_sha256
from gen_unlearn.hub import load_pipeline
from gen_unlearn.io import file_label, kept_results, resumed, write_csv
from gen_unlearn.loop import TrainingConfig, default_device
from gen_unlearn.replay import DataFreeConfig
from gen_unlearn.tables import format_table

LOOP = {"steps": 50, "mixed_precision": "no"}  # the variant's loop settings and their defaults


def split_variant(text: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A variant's (SFR-on settings, loop settings, data-free settings)."""
    settings = dict(parse_setting(item) for item in text.split())
    loop = {k: settings.pop(k, v) for k, v in LOOP.items()}
    data_free = {k.removeprefix("data_free_"): settings.pop(k) for k in list(settings) if k.startswith("data_free_")}
    return settings, loop, data_free


def run_variant(pipeline: Any, forget_class: int, text: str, args: argparse.Namespace, base_fid: float) -> dict:
    settings, loop, data_free = split_variant(text)
    training = TrainingConfig(loop["steps"], mixed_precision=loop["mixed_precision"], device=args.device)
    start = time.time()
    erased = erase(
        pipeline, forget_class, "sfron", training=training, seed=args.seed, data_free=DataFreeConfig(**data_free),
        **settings,
    )  # fmt: skip
    erase_s = time.time() - start
    report = evaluate(erased, forget_class, **evaluation_settings(args))
    fid = report.fid.get("torch-fidelity", math.nan)
    worst, worst_ra = report.remain_accuracy_worst
    return {
        "pipeline": args.pipeline, "forget_class": forget_class, "variant": text or "defaults", "seed": args.seed,
        "fa": report.forgetting.forgetting_accuracy, "ra": report.remain_accuracy_mean,
        "worst_remaining": f"{report.class_names[worst]} {worst_ra:.2f}", "fid": fid,
        "fid_ratio_to_retrained": fid / base_fid, "erase_s": erase_s,
        "erase_steps_s": erased.run_record["timings_s"]["train"],
    }  # fmt: skip


def evaluation_settings(args: argparse.Namespace) -> dict[str, Any]:
    """benchmark_methods' protocol; FA and RA only without a retrained model."""
    fid = args.retrained is not None
    return {
        "num_samples": args.num_samples, "fid_backends": ["torch-fidelity"] if fid else [], "domain_fid": fid,
        "inception": args.inception, "reference_per_class": args.reference_per_class, "seed": args.seed,
        "progress": True,
    }  # fmt: skip


def protocol_folder(args: argparse.Namespace) -> Path:
    """Where this protocol's rows are kept: one folder per protocol, so rows of others never mix or overwrite."""
    retrained = f"vs-{file_label(args.retrained)}" if args.retrained else "no-fid"
    name = f"{file_label(args.pipeline)}-class{args.forget_class}-{args.num_samples}-per-class-"
    return args.output / f"{name}{args.reference_per_class}-reference-{retrained}"


def row_name(text: str, seed: int) -> str:
    """The file a variant's row is kept in, e.g. `remain_alpha=20_steps=25-seed0`."""
    return f"{file_label(text.replace(' ', '_')) or 'defaults'}-seed{seed}"


def variant_key(protocol: dict[str, Any], text: str, seed: int, denoiser: torch.nn.Module) -> dict[str, Any]:
    """What a row was measured under: the protocol, the variant's settings as resolved for `denoiser` (so a change
    of defaults re-measures) and the seed."""
    sfron, loop, data_free = checked_variant(text)
    resolved = {"sfron": sfron.for_denoiser(denoiser), "loop": loop, "data_free": data_free}
    return {**protocol, "variant": text, "settings": resolved, "seed": seed}


def checked_variant(text: str) -> tuple[Any, dict[str, Any], DataFreeConfig]:
    """A variant's SFR-on config, loop settings and data-free config; a name they lack is a one-line error."""
    settings, loop, data_free = split_variant(text)
    return method_config("sfron", **settings), loop, DataFreeConfig(**data_free)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("forget_class", type=int)
    parser.add_argument("--variants", nargs="+", default=[""], help='each "NAME=VALUE ..." ("" = the defaults)')
    parser.add_argument("--retrained", help="the retrained reference: adds the FID ratio")
    parser.add_argument("--inception", help="the FID Inception (a TorchScript file or its folder)")
    parser.add_argument("--num-samples", type=int, default=20, help="samples per class")
    parser.add_argument("--reference-per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device(), help="default: a GPU where there is one")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)  # after the libraries' own
    folder = protocol_folder(args)
    protocol = {"pipeline": args.pipeline, "forget_class": args.forget_class, "retrained": args.retrained,
                "num_samples": args.num_samples, "reference_per_class": args.reference_per_class}  # fmt: skip
    for text in args.variants:  # bad settings fail before anything loads, in one line
        try:
            checked_variant(text)
        except (ValueError, TypeError) as error:
            parser.error(f"--variants {text!r}: {error}")
    pipeline = load_pipeline(args.pipeline).to(args.device)
    keys = {text: variant_key(protocol, text, args.seed, pipeline.denoiser) for text in args.variants}
    judge = {"classifier_sha256": classifier_sha256(pipeline)}  # a retrained shipped classifier re-measures FA and RA
    base_fid = math.nan
    if args.retrained:
        retrained_key = {**protocol, "seed": args.seed}
        base_fid = resumed(folder, f"retrained-seed{args.seed}", retrained_key, lambda: retrained_fid(args))
    for text, key in keys.items():
        measure = partial(run_variant, pipeline, args.forget_class, text, args, base_fid)
        logging.info("%s", resumed(folder, row_name(text, args.seed), {**key, **judge}, measure))
    rows = [row for name, row in kept_results(folder).items() if not name.startswith("retrained-")]
    columns = ["variant", "seed", "fa", "ra", "worst_remaining", "fid", "fid_ratio_to_retrained", "erase_s"]
    write_csv(folder / "results.csv", rows)
    print("\n" + format_table(columns, [[r[c] for c in columns] for r in rows]))


def retrained_fid(args: argparse.Namespace) -> float:
    """The retrained model's remaining-class FID on this protocol: the denominator of every row's ratio."""
    retrained = load_pipeline(args.retrained).to(args.device)
    return evaluate(retrained, args.forget_class, **evaluation_settings(args)).fid["torch-fidelity"]


if __name__ == "__main__":
    main()
