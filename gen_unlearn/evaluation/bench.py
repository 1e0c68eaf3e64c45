"""Steps-vs-FID benchmark: erase once per method, evaluate at each listed step, write tables and plots.

Each method runs once up to the largest listed step; the denoiser's weights are copied at every listed
step and evaluated afterwards, so the rows of one method are points on one unlearning trajectory. Step 0
is the original model. The original model (and, if given, a model retrained without the class) are
evaluated once and drawn as reference lines.

Wall time of a row = the method's preparation (masks, Fisher information) + training up to that step;
the time to load or generate the training data is recorded apart (it is shared and cached).

With an output folder, each finished evaluation (original, retrained) and each finished method's trajectory is
kept in `results.partial/` with the key it was measured under (weights, class, steps, settings); an interrupted
bench rerun with the same inputs reads them back and carries on with the next method. The folder is removed
once results.json is written. With `save_pipelines`, each snapshot is also written, as it is taken, to
`pipelines/METHOD-STEPS/` (a pipeline directory): a long run cut short keeps the steps it reached, and the
weights can be evaluated again elsewhere (another Inception, more samples).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipelines import ClassConditionalPipeline

from ..data import ForgetRemainSets
from ..erasure import erase, method_config, resolve_training
from ..io import atomic_directory, atomic_path, fingerprint_pipeline, key_value, library_versions, resumed, write_json
from ..loop import TrainingConfig
from ..methods import METHODS
from ..replay import DataFreeConfig
from ..tables import format_table
from .classifiers import classifier_sha256
from .features import DOMAIN_LABEL
from .report import EvaluationReport, evaluate

KEPT = "results.partial"  # each finished evaluation and method, kept until results.json is written
SAVED = "pipelines"  # with save_pipelines: METHOD-STEPS/, a pipeline directory per snapshot

PLOTS = ("fid_vs_steps.png", "fa_vs_steps.png", "fa_fid_tradeoff.png", "wall_time.png")


@dataclass
class BenchRow:
    method: str  # a method name, or "original" / "retrained" for the reference lines
    steps: int | None
    report: EvaluationReport
    erase_wall_time_s: float | None = None

    def flat(self, backends: Sequence[str]) -> dict[str, Any]:
        r = self.report
        row = {
            "method": self.method,
            "steps": "" if self.steps is None else self.steps,
            "forgetting_accuracy": r.forgetting.forgetting_accuracy,
            "papers_forgetting_accuracy": r.forgetting.papers_forgetting_accuracy,
            "rejected": r.forgetting.rejected,
            "mean_entropy": r.forgetting.mean_entropy,
            "mean_forget_probability": r.forgetting.mean_forget_probability,
            "remain_accuracy_mean": r.remain_accuracy_mean,
            "remain_accuracy_worst": r.remain_accuracy_worst[1] if r.remain_accuracy else "",
        }
        for backend in backends:
            row[f"fid_{backend}"] = r.fid.get(backend, "")
        if r.domain_fd is not None:
            row["classifier_fd_not_inception"] = r.domain_fd
        row["erase_wall_time_s"] = "" if self.erase_wall_time_s is None else round(self.erase_wall_time_s, 3)
        row["evaluation_wall_time_s"] = round(r.timings_s.get("total", float("nan")), 3)
        return row


@dataclass
class BenchResult:
    forget_class: int
    methods: list[str]
    steps: list[int]
    rows: list[BenchRow]  # method rows, in method then step order
    original: BenchRow
    retrained: BenchRow | None
    erase_records: dict[str, dict[str, Any]] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)

    @property
    def fid_backends(self) -> list[str]:
        return list(self.original.report.fid)

    def table_rows(self) -> list[dict[str, Any]]:
        references = [self.original] + ([self.retrained] if self.retrained else [])
        rows = []
        for row in [*self.rows, *references]:
            flat = row.flat(self.fid_backends)
            if self.retrained is not None:
                flat["fid_ratio_to_retrained"] = self.ratio_to_retrained(row)
            rows.append(flat)
        return rows

    def ratio_to_retrained(self, row: BenchRow) -> float:
        """The row's remaining-class FID over the retrained model's, on the same protocol (the gold standard is 1).

        Without an Inception FID the classifier-feature FD stands in, as in the plots; NaN without a retrained model.
        """
        if self.retrained is None:
            return math.nan
        values = PlotValues(self)
        base = values.fid(self.retrained)
        return values.fid(row) / base if base > 0 else math.nan

    def steps_to_target(self, fa_target: float = 0.01, fid_ratio_target: float = 1.05) -> dict[str, int | None]:
        return steps_to_target(self.table_rows(), fa_target, fid_ratio_target)

    def to_dict(self) -> dict[str, Any]:
        return {
            "forget_class": self.forget_class,
            "methods": self.methods,
            "steps": self.steps,
            "rows": self.table_rows(),
            "reports": {f"{row.method}@{row.steps}": row.report.to_dict() for row in [*self.rows, self.original]}
            | ({"retrained": self.retrained.report.to_dict()} if self.retrained else {}),
            "erase_records": self.erase_records,
            "protocol": self.protocol,
        }

    def table(self) -> str:
        rows = self.table_rows()
        columns = [c for c in rows[0] if c not in ("mean_entropy", "mean_forget_probability")]
        return format_table(columns, [[row.get(c) for c in columns] for row in rows])


def steps_to_target(
    rows: Sequence[dict[str, Any]], fa_target: float = 0.01, fid_ratio_target: float = 1.05
) -> dict[str, int | None]:
    """Per method, the first listed step (> 0) where FA ≤ `fa_target` and the FID ratio to the retrained model
    ≤ `fid_ratio_target`; None where no listed step gets there. `rows` as in results.csv (`table_rows`)."""
    first: dict[str, int | None] = {}
    for row in rows:
        method, steps = row["method"], row["steps"]
        if method in ("original", "retrained") or steps in ("", None):
            continue
        first.setdefault(method, None)
        ratio = float(row.get("fid_ratio_to_retrained", math.nan))
        if int(steps) > 0 and float(row["forgetting_accuracy"]) <= fa_target and ratio <= fid_ratio_target:
            first[method] = int(steps) if first[method] is None else min(first[method], int(steps))
    return first


def parse_steps(steps: Sequence[int | str] | str, default: int | None = None) -> list[int]:
    """A sorted step list from "0,10,50" or a sequence. The word "default" stands for the argument `default` (a
    method's own number of steps), so "0,default" runs each method of a bench to its own default length."""
    items = steps.split(",") if isinstance(steps, str) else list(steps)
    items = [str(s).strip() for s in items if str(s).strip()]
    if "default" in items and default is None:
        raise ValueError(f"steps {steps!r}: 'default' means a method's own steps, which only bench resolves")
    wrong = f"steps must be a non-empty list of numbers ≥ 0 (or 'default'), got {steps!r}"
    try:
        values = [default if s == "default" else int(s) for s in items]
    except ValueError:
        raise ValueError(wrong) from None
    if not values or any(v < 0 for v in values):
        raise ValueError(wrong)
    return sorted(set(values))


def module_states(pipeline: ClassConditionalPipeline) -> dict[str, dict[str, torch.Tensor]]:
    """A CPU copy of the weights of every module of a pipeline."""
    return {
        name: {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
        for name, module in pipeline.components.items()
        if isinstance(module, torch.nn.Module)
    }


def with_states(pipeline: ClassConditionalPipeline, states: dict[str, dict[str, torch.Tensor]]):
    """A copy of `pipeline` carrying the given module weights."""
    snapshot = copy.deepcopy(pipeline)
    for name, state in states.items():
        getattr(snapshot, name).load_state_dict(state)
    return snapshot


def snapshotter(steps: Sequence[int], into: dict[int, tuple[dict, float]], save_as: str | None = None):
    """An `erase` callback that copies the weights at each of `steps` (with the training time so far) and, with
    `save_as` (a path ending in the method's name), also writes them to `{save_as}-{step}/` as a pipeline."""

    def snapshot(done: int, seconds: float, erased: ClassConditionalPipeline) -> None:
        if done in steps:
            into[done] = (module_states(erased), seconds)
            if save_as is not None:
                with atomic_directory(f"{save_as}-{done}") as tmp:
                    erased.save_pretrained(tmp)

    return snapshot


def bench(
    pipeline: ClassConditionalPipeline,
    forget_class: int | str,
    methods: Sequence[str] | str = ("sfron", "salun", "sa"),
    steps: Sequence[int | str] | str = (0, 10, 25, 50, 100),
    output_dir: str | os.PathLike | None = None,
    *,
    retrained: ClassConditionalPipeline | None = None,
    data: str | ForgetRemainSets = "data-free",
    data_root: str | os.PathLike | None = None,
    dataset: str | None = None,
    seed: int = 0,
    training: TrainingConfig | None = None,
    method_settings: dict[str, dict[str, Any]] | None = None,
    data_free: DataFreeConfig | None = None,
    pipeline_name: str | None = None,
    progress: bool = True,
    save_pipelines: bool = False,
    **evaluation: Any,
) -> BenchResult:
    """Erase `forget_class` with each method, evaluate at each listed step, and (with `output_dir`) write
    results.csv, results.json and the plots.

    `evaluation` goes to `evaluate` (num_samples, fid_backends, inception, classifier, reference_per_class, ...);
    its data root, dataset and seed default to those of the erase. `method_settings` maps a method to its
    hyperparameters. A step `"default"` is each method's own number of steps ("0,default": every method at its
    default length). With `output_dir`, an interrupted bench resumes, and `save_pipelines` writes every
    snapshot to `output_dir/pipelines/` (see the module's docstring).
    """
    if save_pipelines and output_dir is None:
        raise ValueError("save_pipelines needs an output_dir to write the snapshots into: pass output_dir")
    methods, step_lists = check_bench_inputs(pipeline, methods, steps, retrained)
    forget_id = pipeline.class_id(forget_class)
    evaluation = {"data_root": data_root, "dataset": dataset, "seed": seed, "progress": progress, **evaluation}
    method_settings = method_settings or {}
    # each method's hyperparameters, checked before anything runs and resolved for the denoiser
    configs = {m: method_config(m, **method_settings.get(m, {})).for_denoiser(pipeline.denoiser) for m in methods}
    start = time.time()
    kept = Path(output_dir) / KEPT if output_dir is not None else None
    # Hashed once (the pipeline's and the classifier's weights): every kept result's key starts from it.
    judge = classifier_sha256(pipeline, evaluation.get("classifier"), evaluation.get("class_map"))
    key = {"pipeline": fingerprint_pipeline(pipeline), "forget": forget_id, "classifier_sha256": judge}
    key = key_value({**key, "evaluation": {k: v for k, v in evaluation.items() if k != "progress"}})

    def run_evaluation(candidate: ClassConditionalPipeline, name: str) -> EvaluationReport:
        return evaluate(candidate, forget_id, pipeline_name=name, **evaluation)

    def evaluated(role: str, candidate: ClassConditionalPipeline, name: str) -> EvaluationReport:
        role_key = {**key, "pipeline": fingerprint_pipeline(candidate)} if candidate is not pipeline else key
        kept_report = resumed(kept, role, role_key, lambda: run_evaluation(candidate, name).to_dict())
        return EvaluationReport.from_dict(kept_report)

    original = BenchRow("original", 0, evaluated("original", pipeline, pipeline_name or "original"), 0.0)
    rows: list[BenchRow] = []
    records: dict[str, dict[str, Any]] = {}
    erase_settings = {"data": data, "data_root": data_root, "dataset": dataset, "seed": seed}
    erase_settings.update(training=training, data_free=data_free)
    for method in methods:
        step_list = step_lists[method]
        if 0 in step_list:
            rows.append(BenchRow(method, 0, original.report, 0.0))
        if max(step_list) > 0:
            settings = {**erase_settings, **method_settings.get(method, {})}
            # keyed by the settings as they will run (defaults filled in, as `erase` fills them): others measure again
            ran = {**erase_settings, "training": resolve_training(training, method, max(step_list), seed, None)}
            ran["data_free"] = data_free or DataFreeConfig()
            method_key = {**key, "method": method, "steps": step_list, "erase": ran, "settings": configs[method]}
            done = resumed(
                kept,
                f"method-{method}",
                method_key,
                lambda method=method, settings=settings, step_list=step_list: erase_and_evaluate(
                    pipeline,
                    forget_id,
                    method,
                    step_list,
                    settings,
                    run_evaluation,
                    pipeline_name,
                    save_as=str(Path(output_dir) / SAVED / method) if save_pipelines else None,
                ),
            )
            records[method] = done["record"]
            rows += [BenchRow(method, r["steps"], EvaluationReport.from_dict(r["report"]), r["erase_wall_time_s"])
                     for r in done["rows"]]  # fmt: skip
    retrained_row = None
    if retrained is not None:
        retrained_row = BenchRow("retrained", None, evaluated("retrained", retrained, "retrained"))

    all_steps = sorted(set().union(*step_lists.values()))
    result = BenchResult(forget_id, methods, all_steps, rows, original, retrained_row, records)
    erase_record = {**erase_settings, "steps": step_lists, "methods": methods, "method_settings": method_settings}
    erase_record["data"] = data.describe() if isinstance(data, ForgetRemainSets) else data
    del erase_record["training"], erase_record["data_free"], erase_record["data_root"]
    result.protocol = bench_protocol(original, retrained_row, erase_record, time.time() - start)
    if output_dir is not None:
        write_bench(result, output_dir)
        shutil.rmtree(Path(output_dir) / KEPT, ignore_errors=True)
    return result


def check_bench_inputs(
    pipeline: ClassConditionalPipeline,
    methods: str | Sequence[str],
    steps: str | Sequence[int | str],
    retrained: ClassConditionalPipeline | None,
) -> tuple[list[str], dict[str, list[int]]]:
    """The methods and each one's sorted step list, or a one-line error before anything runs."""
    methods = [m.strip() for m in methods.split(",") if m.strip()] if isinstance(methods, str) else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise ValueError(f"unknown method {', '.join(unknown) or '(none)'}: use some of {', '.join(METHODS)}")
    if retrained is not None and retrained.num_classes != pipeline.num_classes:
        raise ValueError(
            f"the retrained pipeline has {retrained.num_classes} classes but the pipeline has "
            f"{pipeline.num_classes}: pass one trained on the same classes without the forgotten class"
        )
    return methods, {m: parse_steps(steps, METHODS[m].default_steps) for m in methods}


def erase_and_evaluate(
    pipeline: ClassConditionalPipeline,
    forget_id: int,
    method: str,
    step_list: list[int],
    settings: dict[str, Any],
    run_evaluation: Any,
    pipeline_name: str | None,
    save_as: str | None = None,
) -> dict[str, Any]:
    """One erase up to the largest listed step, the weights evaluated at each listed step (> 0): the erase's
    run record and, per step, the evaluation report and the wall time (preparation + training so far).
    With `save_as`, each snapshot is also written as a pipeline when it is taken (see `snapshotter`)."""
    snapshots: dict[int, tuple[dict, float]] = {}
    on_step = snapshotter(step_list, snapshots, save_as)
    erased = erase(pipeline, forget_id, method=method, steps=max(step_list), on_step=on_step, **settings)
    record = erased.run_record
    prepare_s = record["timings_s"].get("prepare", 0.0)
    del erased  # the snapshots are all that is evaluated
    rows = []
    for done in sorted(snapshots):
        states, train_s = snapshots.pop(done)
        report = run_evaluation(with_states(pipeline, states), f"{pipeline_name or 'pipeline'}-{method}-{done}")
        rows.append({"steps": done, "erase_wall_time_s": prepare_s + train_s, "report": report.to_dict()})
    return {"record": record, "rows": rows}


def bench_protocol(
    original: BenchRow, retrained: BenchRow | None, erase_record: dict[str, Any], wall_s: float
) -> dict[str, Any]:
    protocol = dict(original.report.protocol)
    pipeline = protocol.pop("pipeline", None)
    return {
        "evaluation": protocol,
        "pipeline": pipeline,
        "retrained_pipeline": retrained.report.protocol.get("pipeline") if retrained else None,
        "erase": erase_record,
        "wall_time": "method preparation (masks, Fisher) + training up to the step; data loading excluded",
        "bench_wall_time_s": round(wall_s, 3),
        "versions": library_versions(),
    }


# -- files --------------------------------------------------------------------------------------------


def write_bench(result: BenchResult, output_dir: str | os.PathLike) -> list[Path]:
    """results.csv, results.json and the PNG plots, each written atomically."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    rows = result.table_rows()
    columns = list(dict.fromkeys(c for row in rows for c in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(output / "results.csv") as tmp:
        tmp.write_text(buffer.getvalue())
    write_json(output / "results.json", result.to_dict())
    return [output / "results.csv", output / "results.json", *plot_bench(result, output)]


def protocol_caption(result: BenchResult) -> str:
    e = result.protocol.get("evaluation", {})
    backend = result.fid_backends[0] if result.fid_backends else None
    fid = (e.get("fid") or {}).get(backend, {}) if backend else {}
    ref = e.get("reference") or {}
    parts = [
        f"class {result.forget_class} forgotten",
        f"{e.get('num_samples_per_class')} samples/class",
        f"{e.get('sampler')} {e.get('num_inference_steps')} steps",
        f"guidance {e.get('guidance_scale')}, seed {e.get('seed')}",
    ]
    if fid:
        parts.append(
            f"FID: {backend}, Inception sha256 {str(fid.get('weights_sha256'))[:12]}, resize {fid.get('resize')}, "
            f"{e.get('num_fid_samples')} samples vs {ref.get('num_images')} real "
            f"({ref.get('dataset')} {ref.get('split')})"
        )
    elif result.original.report.domain_fd is not None:
        parts.append(f"FD on {DOMAIN_LABEL}, {e.get('num_fid_samples')} samples vs {ref.get('num_images')} real")
    return " | ".join(parts)


@dataclass
class PlotValues:
    """What the bench plots show of a row: FA, and the FID of one backend (or the domain FD, labelled so)."""

    result: BenchResult

    @property
    def backend(self) -> str | None:
        return self.result.fid_backends[0] if self.result.fid_backends else None

    @property
    def use_domain(self) -> bool:  # without an Inception FID, a classifier-feature FD stands in
        return self.backend is None and self.result.original.report.domain_fd is not None

    @property
    def fid_label(self) -> str:
        if self.backend:
            return f"FID [{self.backend}]"
        return f"FD [{DOMAIN_LABEL}]" if self.use_domain else "FID (not computed)"

    def fid(self, row: BenchRow) -> float:
        if self.backend:
            return row.report.fid.get(self.backend, float("nan"))
        return row.report.domain_fd if self.use_domain else float("nan")

    @staticmethod
    def fa(row: BenchRow) -> float:
        return row.report.forgetting.forgetting_accuracy


def plot_bench(result: BenchResult, output: Path) -> list[Path]:
    """FID and FA against steps, the FA-FID trade-off and the wall time, each a PNG with the protocol on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = PlotValues(result)
    caption = protocol_caption(result)
    metadata = {"Description": json.dumps(result.protocol, default=str), "Software": "gen_unlearn bench"}

    def save(fig, name: str) -> Path:
        fig.text(0.01, 0.01, caption, fontsize=6, wrap=True, va="bottom")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        with atomic_path(output / name) as tmp:
            fig.savefig(tmp, format="png", dpi=120, metadata=metadata)
        plt.close(fig)
        return output / name

    fid_label = f"{values.fid_label}, remaining classes"
    return [
        save(steps_figure(result, values.fid, fid_label, reference_lines=True), "fid_vs_steps.png"),
        save(steps_figure(result, values.fa, "forgetting accuracy", reference_lines=True), "fa_vs_steps.png"),
        save(tradeoff_figure(result, values), "fa_fid_tradeoff.png"),
        save(
            steps_figure(result, lambda r: r.erase_wall_time_s, "wall time (s): preparation + training"),
            "wall_time.png",
        ),
    ]


def steps_figure(result: BenchResult, value: Any, ylabel: str, reference_lines: bool = False) -> Any:
    """One line per method of `value(row)` against the unlearning steps (dashed: original, dotted: retrained)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for method in result.methods:
        rows = [r for r in result.rows if r.method == method]
        ax.plot([r.steps for r in rows], [value(r) for r in rows], marker="o", label=method)
    if reference_lines:
        ax.axhline(value(result.original), color="black", linestyle="--", linewidth=1, label="original")
        if result.retrained is not None:
            ax.axhline(value(result.retrained), color="grey", linestyle=":", linewidth=1.5, label="retrained")
    ax.set_xlabel("unlearning steps")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def tradeoff_figure(result: BenchResult, values: PlotValues) -> Any:
    """FID against FA, one line per method labelled with its steps; the original and retrained as markers."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for method in result.methods:
        rows = [r for r in result.rows if r.method == method]
        ax.plot([values.fa(r) for r in rows], [values.fid(r) for r in rows], marker="o", label=method)
        for r in rows:
            point = (values.fa(r), values.fid(r))
            ax.annotate(str(r.steps), point, fontsize=7, xytext=(3, 3), textcoords="offset points")
    original = (values.fa(result.original), values.fid(result.original))
    ax.plot(*([v] for v in original), marker="*", markersize=12, color="black", ls="")
    ax.annotate("original", original, fontsize=7, xytext=(4, -9), textcoords="offset points")
    if result.retrained is not None:
        retrained = (values.fa(result.retrained), values.fid(result.retrained))
        ax.plot(*([v] for v in retrained), marker="D", color="grey", ls="", label="retrained")
    ax.set_xlabel("forgetting accuracy (lower: more forgotten)")
    ax.set_ylabel(values.fid_label)
    ax.set_title("FA–FID trade-off (labels: steps)", fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


__all__ = ["PLOTS", "BenchResult", "BenchRow", "bench", "parse_steps", "plot_bench", "steps_to_target", "write_bench"]
