"""`gen-unlearn evaluate | grid | bench` on tiny settings, and their one-line errors."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED, one_line_error, tiny_ddpm
from PIL import Image

from gen_unlearn import load_pipeline
from gen_unlearn.cli import main
from gen_unlearn.evaluation.bench import PLOTS

INCEPTION = SHARED / "weights" / "inception-2015-12-05-fid.torchscript.pt"
TINY_EVALUATION = [
    "--num-samples",
    "1",
    "--steps",
    "2",
    "--reference-per-class",
    "2",
    "--fid-backends",
    "torch-fidelity",
    "--inception",
    str(INCEPTION),
]


def test_evaluate_writes_a_report_and_prints_a_table(capsys, data_root, tmp_path) -> None:
    out = tmp_path / "report.json"
    argv = ["evaluate", "mnist-ddpm", "--forget-class", "three", *TINY_EVALUATION, "--domain-fid", "--output", str(out)]
    assert main([*argv, "--data-root", str(data_root)]) == 0
    printed = capsys.readouterr().out
    assert "forgetting accuracy (FA)" in printed and "FID [torch-fidelity]" in printed
    assert "classifier-penultimate (not Inception FID)" in printed
    report = json.loads(out.read_text())
    assert report["forget_class"] == 3 and 0 <= report["forgetting_accuracy"] <= 1
    assert set(report["fid"]) == {"torch-fidelity"} and report["fid"]["torch-fidelity"] > 0
    assert report["domain_fd"]["label"] == "classifier-penultimate (not Inception FID)"
    protocol = report["protocol"]
    assert protocol["command"] == "evaluate" and protocol["pipeline"]["name"] == "mnist-ddpm"
    assert protocol["num_samples_per_class"] == 1 and protocol["num_fid_samples"] == 9
    assert protocol["reference"]["num_images"] == 18 and protocol["num_inference_steps"] == 2
    assert protocol["fid"]["torch-fidelity"]["weights_path"] == str(INCEPTION.resolve())


def test_a_missing_inception_file_is_one_line_that_says_what_to_do(capsys, tmp_path) -> None:
    argv = ["evaluate", "mnist-ddpm", "--forget-class", "3", "--inception", str(tmp_path / "missing.pt")]
    one_line_error(capsys, [*argv, "--output", str(tmp_path / "r.json")], "--inception PATH", "GEN_UNLEARN_INCEPTION")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    ("pipeline", "extra", "fragments"),
    [
        ("no-such-model", [], ("unknown pipeline",)),
        ("mnist-ddpm", ["--forget-class", "12"], ("class 12 is out of range", "0..9")),
        ("mnist-ddpm", ["--data-root", "{tmp}"], ("mnist not found", "--data-root")),
        ("mnist-ddpm", ["--num-samples", "0"], ("--num-samples must be at least 1",)),
    ],
)
def test_evaluate_bad_input_is_one_line(capsys, tmp_path, pipeline, extra, fragments) -> None:
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    argv = ["evaluate", pipeline, "--forget-class", "3", *TINY_EVALUATION, *extra, "--output", str(tmp_path / "r.json")]
    one_line_error(capsys, argv, *fragments)
    assert not (tmp_path / "r.json").exists()


def test_grid_draws_each_pipeline_on_the_same_seeds(capsys, tmp_path) -> None:
    path = tmp_path / "tiny"
    tiny_ddpm(id2label={"0": "cat", "1": "dog", "2": "bird"}).save_pretrained(path)
    single, double = tmp_path / "one.png", tmp_path / "two.png"
    common = ["--forget-class", "dog", "--num-per-class", "2", "--steps", "2", "--scale", "1"]
    assert main(["grid", str(path), *common, "--output", str(single)]) == 0
    assert main(["grid", str(path), "--compare", str(path), *common, "--output", str(double)]) == 0
    one, two = Image.open(single), Image.open(double)
    assert one.height == two.height == 18 + 3 * (8 + 2) + 2  # header, three class rows
    assert two.width - one.width == 2 * (8 + 2) + 2 + 12  # one more block of two images and a gap
    protocol = json.loads(two.text["gen_unlearn"])
    assert protocol["forget_class"] == 1 and [p["label"] for p in protocol["pipelines"]] == ["tiny", "tiny"]
    assert json.loads(double.with_suffix(".json").read_text()) == protocol | {"sources": [str(path)] * 2}


def bench_argv(data_root, retrained, out) -> list[str]:
    argv = ["bench", "mnist-ddpm", "--forget-class", "3", "--methods", "ga", "--steps", "0,1"]
    argv += ["--retrained", str(retrained), "--data-root", str(data_root), "--train-batch-size", "4"]
    argv += ["--num-samples", "1", "--sampler-steps", "2", "--reference-per-class", "2", "--inception", str(INCEPTION)]
    return [*argv, "--output", str(out)]


def test_bench_rejects_a_retrained_pipeline_of_other_classes_before_any_work(capsys, data_root, tmp_path) -> None:
    tiny_ddpm().save_pretrained(tmp_path / "tiny")
    one_line_error(capsys, bench_argv(data_root, tmp_path / "tiny", tmp_path / "b"), "retrained", "3 classes")
    assert not (tmp_path / "b").exists()


def test_bench_erases_evaluates_and_writes_its_files(capsys, data_root, tmp_path) -> None:
    retrained = tmp_path / "retrained"
    load_pipeline("mnist-ddpm").save_pretrained(retrained)  # stands in for a model trained without the class
    out = tmp_path / "bench"
    assert main(bench_argv(data_root, retrained, out)) == 0
    printed = capsys.readouterr().out
    assert "fid_torch-fidelity" in printed and "retrained" in printed
    assert "steps to FA ≤ 1% at a FID ratio to the retrained model ≤ 1.05: ga " in printed
    rows = (out / "results.csv").read_text().splitlines()
    assert [r.split(",")[:2] for r in rows[1:]] == [["ga", "0"], ["ga", "1"], ["original", "0"], ["retrained", ""]]
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["evaluation"]["fid"]["torch-fidelity"]["resize"] == "pil-bicubic"
    assert results["erase_records"]["ga"]["steps"] == 1
    for name in PLOTS:
        image = Image.open(out / name)
        assert image.format == "PNG" and "Description" in image.text


def test_audit_prints_the_table_beside_the_original_and_writes_json(capsys, data_root, tmp_path) -> None:
    out = tmp_path / "audit.json"
    tiny = ["--num-samples", "2", "--guidance-scales", "0,2", "--relearn-images", "3", "--relearn-steps", "1",
            "--sampler-steps", "2", "--data-root", str(data_root)]  # fmt: skip
    argv = ["audit", "mnist-ddpm", "--forget-class", "3", "--original", "mnist-ddpm", *tiny, "--output", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "null-label leakage %" in printed and "original" in printed
    saved = json.loads(out.read_text())
    assert set(saved["results"]) == {"erased", "original"} and saved["protocol"]["classifier"]["reject_output"]
    erased, original = (saved["results"][role] for role in ("erased", "original"))
    assert erased["leakage"] == original["leakage"], "the same pipeline, the same seeds: the same figures"
    assert erased["relearning"] == original["relearning"]
    one_line_error(capsys, [*argv[:4], "--relearn-steps", "0", "--output", str(out)], "must be at least 1")
