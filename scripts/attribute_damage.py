"""Which parameters of an erased pipeline carry the forgetting, and which the damage to the other classes.

    python scripts/attribute_damage.py runs/erased-5 --original fashion-dit --forget-class 5 --output runs/attr-5

For each group of the denoiser's parameters (by name pattern; `--group NAME=REGEX` adds one), evaluates two
pipelines on the same samples: the erased one with that group *restored* to the original's weights, and the
original with *only* that group's change applied. Forgetting accuracy (FA, reject-aware), remaining-class
accuracy (RA) and each class's accuracy come from `gen_unlearn.evaluate` with --num-samples per class and the
pipeline's own sampler and guidance. A group whose restoring mends a class carries that class's damage; a group
whose change alone forgets carries the forgetting. Each group's movement (‖Δθ‖ / ‖θ‖) is printed first;
`--movement-only` stops there. Prints a table and writes results.json to --output.
"""

from __future__ import annotations

import argparse
import copy
import logging
import re
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from gen_unlearn.evaluation.report import evaluate
from gen_unlearn.hub import load_pipeline
from gen_unlearn.io import library_versions, write_json
from gen_unlearn.tables import format_table

logger = logging.getLogger("attribute_damage")

# Parameter groups by the role of the weights (block indices do not matter): DiT, then UNet names.
DEFAULT_GROUPS = {
    "class embeddings": r"class_embedder|class_embedding",
    "timestep embeddings": r"timestep_embedder|time_embedding",
    "adaLN modulation": r"norm1\.linear",
    "attention": r"attn\d*\.|attentions\.",
    "feed-forward": r"\.ff\.",
    "final layer": r"proj_out_|conv_out|conv_norm_out",
    "patch embedding": r"pos_embed|conv_in",
    "resnets": r"resnets\.",
    "down/upsamplers": r"downsamplers|upsamplers",
}


def groups_of(names: list[str], patterns: dict[str, str]) -> dict[str, list[str]]:
    """Each pattern's parameter names (first match wins); patterns that match nothing are left out."""
    found: dict[str, list[str]] = {group: [] for group in patterns}
    for name in names:
        group = next((g for g, pattern in patterns.items() if re.search(pattern, name)), None)
        if group is not None:
            found[group].append(name)
    rest = [n for n in names if not any(n in members for members in found.values())]
    return {**{g: m for g, m in found.items() if m}, **({"other": rest} if rest else {})}


def mixed(base: Any, donor: Any, names: list[str]) -> Any:
    """A copy of `base` whose denoiser takes the parameters `names` from `donor`."""
    pipeline, wanted = copy.deepcopy(base), set(names)
    source = dict(donor.denoiser.named_parameters())
    with torch.no_grad():
        for name, parameter in pipeline.denoiser.named_parameters():
            if name in wanted:
                parameter.copy_(source[name])
    return pipeline


def movement(original: Any, erased: Any, groups: dict[str, list[str]]) -> dict[str, float]:
    """How far each group moved: ‖θ_erased − θ_original‖ / ‖θ_original‖ over the group's parameters."""
    before, after = dict(original.denoiser.named_parameters()), dict(erased.denoiser.named_parameters())
    moved = {}
    for group, members in groups.items():
        change = sum((after[n].detach() - before[n].detach()).float().pow(2).sum().item() for n in members)
        size = sum(before[n].detach().float().pow(2).sum().item() for n in members)
        moved[group] = (change / size) ** 0.5 if size > 0 else float("nan")
    return moved


def scores(pipeline: Any, forget_class: int, num_samples: int, seed: int) -> dict[str, Any]:
    report = evaluate(pipeline, forget_class, num_samples, fid_backends=(), seed=seed, progress=False)
    per_class = {str(c): a for c, a in report.remain_accuracy.items()}
    per_class[str(forget_class)] = report.forgetting.forgetting_accuracy
    return {"fa": report.forgetting.forgetting_accuracy, "ra": report.remain_accuracy_mean, "per_class": per_class}


def measure(original: Any, erased: Any, groups: dict[str, list[str]], args: argparse.Namespace) -> list[dict]:
    """The original, the erased pipeline, then each group restored and each group's change alone."""
    variants = [("original", lambda: original), ("erased", lambda: erased)]
    for group, members in groups.items():
        variants.append((f"{group}: restored", lambda m=members: mixed(erased, original, m)))
        variants.append((f"{group}: alone", lambda m=members: mixed(original, erased, m)))
    rows = []
    for label, build in tqdm(variants, desc="variants", unit="pipeline"):
        rows.append({"variant": label, **scores(build(), args.forget_class, args.num_samples, args.seed)})
        logger.info("%s: FA %.2f RA %.3f", label, rows[-1]["fa"], rows[-1]["ra"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("erased", help="the erased pipeline (directory)")
    parser.add_argument("--original", required=True, help="the pipeline it was erased from (name or directory)")
    parser.add_argument("--forget-class", type=int, required=True)
    parser.add_argument("--num-samples", type=int, default=20, help="samples per class")
    parser.add_argument("--group", action="append", default=[], metavar="NAME=REGEX", help="another group")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--movement-only", action="store_true", help="only how far each group moved (no sampling)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    original, erased = load_pipeline(args.original).to(args.device), load_pipeline(args.erased).to(args.device)
    if type(original.denoiser) is not type(erased.denoiser):
        parser.error("the erased pipeline and --original have different denoisers: pass the pipeline it came from")
    if any("=" not in g for g in args.group):
        parser.error("--group takes NAME=REGEX, e.g. --group 'adaLN=norm1\\.linear'")
    patterns = {**DEFAULT_GROUPS, **dict(g.split("=", 1) for g in args.group)}
    names = [n for n, _ in erased.denoiser.named_parameters()]
    groups = groups_of(names, patterns)
    measured = {**groups, "whole denoiser": names}
    moved = movement(original, erased, measured)
    table = [[g, len(measured[g]), m] for g, m in moved.items()]
    print(format_table(["group", "tensors", "‖Δθ‖ / ‖θ‖"], table, number=".4f"))
    record = {"args": {**vars(args), "output": str(args.output)}, "groups": patterns, "movement": moved}
    args.output.mkdir(parents=True, exist_ok=True)
    if args.movement_only:
        write_json(args.output / "results.json", {**record, "versions": library_versions()})
        return
    rows = measure(original, erased, groups, args)
    classes = sorted(rows[0]["per_class"], key=int)
    cells = [[r["variant"], r["fa"], r["ra"], *(r["per_class"][c] for c in classes)] for r in rows]
    text = format_table(["variant", "FA", "RA", *classes], cells, number=".2f")
    print(text)
    (args.output / "table.txt").write_text(text + "\n")
    write_json(args.output / "results.json", {**record, "rows": rows, "versions": library_versions()})


if __name__ == "__main__":
    main()
