"""`report`: one self-contained HTML page for a run: what was erased, how, and what the evaluations found.

A run directory is what the commands write: an erased pipeline with its `run.json`, evaluate and audit
reports (JSON files anywhere in it), a bench directory (`results.csv` and its plots), grid PNGs. The page
shows the erase record, before/after grids (drawn from the input pipeline and the erased one, the forgotten
class marked, when `grids` is on), the evaluate and audit tables, the bench plots and every protocol. Images
are embedded as data URIs and the page loads nothing from anywhere: it opens offline and can be mailed.
A small inline script counts the images that displayed and any error, into `data-` attributes of <body>.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import atomic_path
from .audit import figure_rows
from .bench import PLOTS

logger = logging.getLogger(__name__)

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; } figure { margin: 1em 0; } figcaption { color: #555; }
details pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: 12px; }
.forgotten { color: #dc1e1e; font-weight: 600; }
"""

# Counts the images that displayed and every error (scripts, resources) into <body data-...>: the test reads them.
CHECK_SCRIPT = """
window.__errors = 0;
window.addEventListener('error', function () { window.__errors += 1; }, true);
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var shown = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', shown + '/' + images.length);
  document.body.setAttribute('data-errors', String(window.__errors));
});
"""


@dataclass
class RunArtifacts:
    """What one run directory holds, found by content (not by file name)."""

    root: Path
    erase_record: dict[str, Any] | None = None
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    audits: dict[str, dict[str, Any]] = field(default_factory=dict)
    bench_rows: list[dict[str, str]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)  # bench plots and grid PNGs, by relative path


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def find_artifacts(root: str | os.PathLike) -> RunArtifacts:
    """The records, reports, tables and images under `root` (a run, bench or report directory, or one JSON file)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist: pass a directory written by erase, evaluate, audit or bench")
    found = RunArtifacts(root)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and ".partial" not in str(p))
    for path in files:
        name = str(path.relative_to(root)) if path != root else path.name
        if path.suffix == ".json":
            classify_json(found, name, read_json(path))
        elif path.suffix == ".png" and made_here(path):
            found.images[name] = path.read_bytes()
        elif path.name == "results.csv":
            found.bench_rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return found


def made_here(png: Path) -> bool:
    """A bench plot or a grid (they carry gen_unlearn's metadata), not one of thousands of saved samples."""
    from PIL import Image

    with Image.open(png) as image:
        text = getattr(image, "text", {})
    return png.name in PLOTS or "gen_unlearn" in text or "gen_unlearn" in text.get("Software", "")


def classify_json(found: RunArtifacts, name: str, data: Any) -> None:
    if not isinstance(data, dict):
        return
    if "method" in data and "input_pipeline_sha256" in data:
        found.erase_record = data
    elif "forgetting_accuracy" in data and "protocol" in data:
        found.evaluations[name] = data
    elif "results" in data and "null_label" in (data.get("protocol") or {}):
        found.audits[name] = data


# -- rendering -------------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def number(text: str | None) -> Any:
    """A CSV cell as a number where it is one (so that it is shown to four figures)."""
    try:
        return float(text) if text not in (None, "") and not str(text).isdigit() else text
    except ValueError:
        return text


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(data: bytes, caption: str) -> str:
    source = "data:image/png;base64," + base64.b64encode(data).decode()
    alt = html.escape(caption)
    return f'<figure><img src="{source}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'


def protocol(title: str, data: Any) -> str:
    text = html.escape(json.dumps(data, indent=2, default=str))
    return f"<details><summary>{html.escape(title)}</summary><pre>{text}</pre></details>"


def erase_section(record: dict[str, Any]) -> str:
    rows = [
        ("method", record.get("method")),
        ("forgotten class", f"{record.get('forget_class')} ({record.get('forget_class_name')})"),
        ("steps", record.get("steps")),
        ("input pipeline", record.get("input_pipeline") or "not recorded"),
        ("input sha256", record.get("input_pipeline_sha256")),
        ("data", json.dumps(record.get("data"), default=str)),
        ("device", record.get("device")),
        ("wall time (s)", ", ".join(f"{k} {v}" for k, v in (record.get("timings_s") or {}).items())),
    ]
    settings = table(("setting", "value"), sorted((record.get("settings") or {}).items()))
    return "<h2>Erase record</h2>" + table(("field", "value"), rows) + settings + protocol("run.json", record)


def evaluation_section(name: str, report: dict[str, Any]) -> str:
    rows = [
        ("forgetting accuracy (FA)", report.get("forgetting_accuracy")),
        ("FA, papers' protocol", report.get("papers_forgetting_accuracy")),
        ("rejected (none of these)", report.get("rejected")),
        ("remaining-class accuracy (RA), mean", report.get("remain_accuracy_mean")),
        *(
            (f"FA, class {c}", s.get("forgetting_accuracy"))
            for c, s in (report.get("forgetting_per_class") or {}).items()
        ),
        *((f"FID [{b}]", v) for b, v in (report.get("fid") or {}).items()),
    ]
    title = f"Evaluation: {html.escape(name)} (forget class {report.get('forget_class')})"
    return f"<h2>{title}</h2>" + table(("measure", "value"), rows) + protocol("protocol", report.get("protocol"))


def audit_section(name: str, report: dict[str, Any]) -> str:
    columns, rows = figure_rows(report["results"])
    title = f"Audit: {html.escape(name)} (forget class {report.get('forget_class')})"
    return f"<h2>{title}</h2>" + table(columns, rows) + protocol("protocol", report["protocol"])


def bench_section(found: RunArtifacts) -> str:
    plots = {n: b for n, b in found.images.items() if Path(n).name in PLOTS}
    if not found.bench_rows and not plots:
        return ""
    out = "<h2>Bench</h2>"
    if found.bench_rows:
        columns = list(found.bench_rows[0])
        out += table(columns, [[number(row.get(c)) for c in columns] for row in found.bench_rows])
    return out + "".join(image(data, name) for name, data in plots.items())


def grid_section(found: RunArtifacts, drawn: dict[str, bytes]) -> str:
    grids = {**{n: b for n, b in found.images.items() if Path(n).name not in PLOTS}, **drawn}
    if not grids:
        return ""
    note = (
        "<p>Rows are classes, the same seeds in every block; the "
        '<span class="forgotten">forgotten class</span> is framed in red.</p>'
    )
    return "<h2>Grids</h2>" + note + "".join(image(data, name) for name, data in grids.items())


def render(runs: Sequence[RunArtifacts], drawn: dict[Path, dict[str, bytes]], title: str) -> str:
    """The page: per run, the erase record, grids, evaluations, audits and the bench."""
    sections = []
    for found in runs:
        parts = [f"<h1>{html.escape(str(found.root))}</h1>"]
        if found.erase_record:
            parts.append(erase_section(found.erase_record))
        parts.append(grid_section(found, drawn.get(found.root, {})))
        parts += [evaluation_section(n, r) for n, r in found.evaluations.items()]
        parts += [audit_section(n, r) for n, r in found.audits.items()]
        parts.append(bench_section(found))
        sections.append("".join(parts))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style><script>{CHECK_SCRIPT}</script></head><body>"
        + "".join(sections)
        + "<footer><p>Written by gen_unlearn report; self-contained, nothing loaded from the network.</p></footer>"
        "</body></html>"
    )


def before_after_grid(record: dict[str, Any], erased_dir: Path, num_per_class: int, device: str) -> bytes | None:
    """A grid of the input pipeline and the erased one (the forgotten class marked), as PNG bytes."""
    from ..hub import load_pipeline
    from .grid import class_grid

    source = record.get("input_pipeline")
    if not source or not Path(source).exists():
        logger.warning(
            "no before/after grid for %s: its input pipeline (%s) is not on this machine", erased_dir, source
        )
        return None
    pipelines = [load_pipeline(source).to(device), load_pipeline(erased_dir).to(device)]
    forget = record.get("forget_class")
    grid = class_grid(pipelines, ["before", "after"], num_per_class=num_per_class,
                      forget_class=forget if isinstance(forget, int) else forget[0], progress=False)  # fmt: skip
    buffer = io.BytesIO()
    grid.image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_report(
    run_dirs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    grids: bool = True,
    num_per_class: int = 4,
    device: str = "cpu",
) -> Path:
    """Find what every run directory holds, draw the before/after grids of erased pipelines, write the page."""
    runs = [find_artifacts(d) for d in run_dirs]
    if not any(r.erase_record or r.evaluations or r.audits or r.bench_rows or r.images for r in runs):
        raise ValueError(
            f"nothing to report in {', '.join(map(str, run_dirs))}: give erase, evaluate, audit or bench outputs"
        )
    drawn: dict[Path, dict[str, bytes]] = {}
    for found in runs:
        if grids and found.erase_record and (found.root / "model_index.json").exists():
            png = before_after_grid(found.erase_record, found.root, num_per_class, device)
            drawn[found.root] = {"before / after": png} if png else {}
    page = render(runs, drawn, title="gen_unlearn report: " + ", ".join(str(r.root) for r in runs))
    with atomic_path(output) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(output)


__all__ = ["RunArtifacts", "find_artifacts", "render", "write_report"]
