"""`report`: one self-contained HTML page, rendered in a real headless Chromium (Debian's package)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line_error, tiny_ddpm, tiny_sets

from gen_unlearn.classifier import SmallCNN
from gen_unlearn.cli import main
from gen_unlearn.data import LabeledImages
from gen_unlearn.erasure import erase
from gen_unlearn.evaluation import bench, evaluate
from gen_unlearn.evaluation.audit import AuditConfig, audit
from gen_unlearn.evaluation.html_report import find_artifacts, write_report
from gen_unlearn.hub import load_pipeline
from gen_unlearn.loop import TrainingConfig
from gen_unlearn.sampling import save_png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPORTS = Path(__file__).resolve().parents[1] / "runs" / "report-test"


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory) -> list[Path]:
    """An erased tiny pipeline with its run.json, an evaluate and an audit report in it, and a bench directory."""
    root = tmp_path_factory.mktemp("report")
    tiny_ddpm().save_pretrained(root / "original")
    original = load_pipeline(root / "original")
    training = TrainingConfig(steps=2, batch_size=4, progress=False, device="cpu")
    erased = erase(original, 1, "ga", data=tiny_sets(original), training=training, output_dir=root / "erased")
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=3, image_size=8, reject=True)
    common = {"classifier": classifier, "fid_backends": (), "num_inference_steps": 2, "progress": False}
    evaluate(erased, 1, num_samples=4, **common).save(root / "erased" / "evaluate.json")
    config = AuditConfig(num_samples=2, guidance_scales=(0.0, 2.0), num_inference_steps=2, progress=False)
    audit(erased, 1, original, classifier=classifier, data_root=root / "none", config=config).save(
        root / "erased" / "audit.json"
    )
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8, generator=g)
    reference = LabeledImages("tiny", images, torch.arange(30) % 3, list("abc"))
    bench(original, 1, "ga", "0,1", root / "bench", data=tiny_sets(original), training=training,
          num_samples=2, reference=reference, domain_fid=True, **common)  # fmt: skip
    save_png(np.zeros((8, 8, 1), np.uint8), root / "erased" / "samples" / "000000.png")  # a sample: not embedded
    return [root / "erased", root / "bench"]


def test_the_run_directories_are_read_by_content(run_dirs) -> None:
    erased, bench_dir = (find_artifacts(d) for d in run_dirs)
    assert erased.erase_record["method"] == "ga" and Path(erased.erase_record["input_pipeline"]).name == "original"
    assert list(erased.evaluations) == ["evaluate.json"] and list(erased.audits) == ["audit.json"]
    assert bench_dir.bench_rows and {"fid_vs_steps.png", "fa_vs_steps.png"} <= set(bench_dir.images)
    assert not erased.images, "saved samples are not report images"


def test_the_page_is_self_contained_and_displays_in_chromium_without_errors(run_dirs, tmp_path) -> None:
    page = write_report(run_dirs, tmp_path / "report.html", num_per_class=2)
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text), "the page must load nothing from the network"
    for heading in ("Erase record", "Grids", "Evaluation: evaluate.json", "Audit: audit.json", "Bench"):
        assert heading in text, heading
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (apt-get install chromium): the page was checked as text only")
    REPORTS.mkdir(parents=True, exist_ok=True)
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,2400",
            "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0"]  # fmt: skip
    url = page.resolve().as_uri()
    dom = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stderr[-2000:]
    shown = re.search(r'data-images="(\d+)/(\d+)"', body.group(0))
    assert shown and shown.group(1) == shown.group(2) and int(shown.group(2)) >= 5, body.group(0)
    assert 'data-errors="0"' in body.group(0), body.group(0)
    assert "Uncaught" not in dom.stderr and "ERR_" not in dom.stderr, dom.stderr[-2000:]
    shot = REPORTS / "report.png"
    subprocess.run([*args, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_from_the_command_line_and_its_one_line_error(run_dirs, tmp_path, capsys) -> None:
    out = tmp_path / "cli.html"
    assert main(["report", *map(str, run_dirs), "--no-grids", "--output", str(out)]) == 0
    assert "Audit: audit.json" in out.read_text() and "before / after" not in out.read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(capsys, ["report", str(empty), "--output", str(out)], "nothing to report")
