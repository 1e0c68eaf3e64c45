"""Evaluation: forgetting accuracy, FID through torch-fidelity and clean-fid (offline), grids, the bench.

FID runs on the real FID Inception TorchScript in ../shared/weights; sets are small (tens of images)
because Inception costs ~0.2 s per image on one CPU thread.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import json
import math
import shutil
from typing import Any

import numpy as np
import pytest
import torch
from conftest import SHARED, cpu_state, tiny_ddpm, tiny_dit, tiny_sets
from PIL import Image

import gen_unlearn
from gen_unlearn.classifier import SmallCNN, rejects
from gen_unlearn.data import LabeledImages, load_dataset
from gen_unlearn.erasure import erase
from gen_unlearn.evaluation.accuracy import classify
from gen_unlearn.evaluation.bench import PLOTS, bench, parse_steps, steps_to_target
from gen_unlearn.evaluation.classifiers import ClassMapped, read_class_map, resolve_classifier
from gen_unlearn.evaluation.features import (
    ClassifierFeatures,
    InceptionNetwork,
    InceptionWeightsNotFoundError,
    resize_batch,
    resize_per_image,
    resolve_inception_path,
)
from gen_unlearn.evaluation.fid import (
    DomainBackend,
    FeatureStatistics,
    UInt8Images,
    clean_fid_frechet,
    compute_fid,
    make_backend,
    reference_statistics,
    register_torch_fidelity_extractor,
    relative_difference,
    sqrtm_takes_disp,
    torch_fidelity_statistics,
)
from gen_unlearn.evaluation.grid import (
    BLOCK_GAP,
    HEADER_HEIGHT,
    MARK_COLOUR,
    block_size,
    class_grid,
    default_grid_classes,
)
from gen_unlearn.evaluation.report import forgetting_scores
from gen_unlearn.loop import TrainingConfig
from gen_unlearn.methods import METHODS
from gen_unlearn.methods.sfron import DENOISER_LR
from gen_unlearn.negatives import KINDS, mixed_negatives, synthetic_negatives

INCEPTION = SHARED / "weights" / "inception-2015-12-05-fid.torchscript.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


@pytest.fixture(scope="module")
def inception() -> InceptionNetwork:
    if not INCEPTION.is_file():
        pytest.fail(f"the FID Inception file is not at {INCEPTION}: run the tests with ../shared beside the checkout")
    return InceptionNetwork(INCEPTION)


@pytest.fixture(scope="module")
def mnist_test(data_root) -> LabeledImages:
    return load_dataset("mnist", data_root, train=False)


def first_of(data: LabeledImages, classes: list[int], start: int, count: int) -> torch.Tensor:
    return torch.cat([data.images[torch.nonzero(data.labels == c).flatten()[start : start + count]] for c in classes])


@pytest.fixture(scope="module")
def real_images(mnist_test) -> dict[str, torch.Tensor]:
    """Three sets of real digits: a reference of classes 0, 1, 2, another sample of the same classes,
    and a sample of the same size without class 1."""
    return {
        "reference": first_of(mnist_test, [0, 1, 2], 0, 8),
        "same": first_of(mnist_test, [0, 1, 2], 8, 8),
        "dropped": first_of(mnist_test, [0, 2], 8, 12),
    }


@pytest.fixture(scope="module")
def real_sets(real_images, inception) -> dict[str, FeatureStatistics]:
    """Their statistics through the torch-fidelity backend."""
    backend = make_backend("torch-fidelity", inception)
    return {name: backend.statistics(backend.features(images, 50, False)) for name, images in real_images.items()}


# -- forgetting accuracy ------------------------------------------------------------------------------


def test_forgetting_scores_on_known_probabilities() -> None:
    p = torch.tensor([[0.1, 0.9, 0.0], [0.6, 0.4, 0.0], [0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    scores = forgetting_scores(p, forget_class=1)
    assert scores.forgetting_accuracy == pytest.approx(2 / 4)  # rows 0 and 2 say class 1; row 3 ties go to 0
    assert scores.mean_forget_probability == pytest.approx((0.9 + 0.4 + 1.0 + 1 / 3) / 4)
    entropies = [-(0.1 * math.log(0.1) + 0.9 * math.log(0.9)), -(0.6 * math.log(0.6) + 0.4 * math.log(0.4)), 0.0]
    assert scores.mean_entropy == pytest.approx((sum(entropies) + math.log(3)) / 4, rel=1e-6)
    assert scores.num_samples == 4
    with pytest.raises(ValueError, match="out of range"):
        forgetting_scores(p, forget_class=3)


def test_forgetting_scores_with_a_reject_output() -> None:
    # 3 classes and "none of these" (the last column)
    p = torch.tensor(
        [[0.05, 0.15, 0.0, 0.8], [0.1, 0.8, 0.1, 0.0], [0.0, 0.3, 0.1, 0.6], [0.1, 0.2, 0.7, 0.0]], dtype=torch.float64
    )
    scores = forgetting_scores(p, forget_class=1, rejects=True)
    assert scores.forgetting_accuracy == pytest.approx(1 / 4), "only row 1 is put in class 1 when rejecting is allowed"
    assert scores.papers_forgetting_accuracy == pytest.approx(3 / 4), "arg-max over the 3 classes: rows 0, 1 and 2"
    assert scores.rejected == pytest.approx(2 / 4)
    assert scores.drawn_as == {"1": 0.25, "2": 0.25, "none": 0.5}
    assert scores.mean_forget_probability == pytest.approx((0.75 + 0.8 + 0.75 + 0.2) / 4)
    plain = forgetting_scores(p[:, :3], forget_class=1)
    assert plain.papers_forgetting_accuracy == plain.forgetting_accuracy and plain.rejected == 0
    with pytest.raises(ValueError, match="out of range for 3 classes"):
        forgetting_scores(p, forget_class=3, rejects=True)


def test_a_small_cnn_with_a_reject_output_round_trips(tmp_path) -> None:
    model = SmallCNN(num_classes=4, image_size=8, reject=True)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 5) and rejects(model)
    model.save_pretrained(tmp_path)
    loaded = SmallCNN.from_pretrained(tmp_path)
    assert rejects(loaded) and loaded.config.num_classes == 4 and not rejects(SmallCNN(num_classes=4, image_size=8))


def test_negatives_of_every_kind_have_the_shape_asked_for() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (5, 1, 12, 12), dtype=torch.uint8, generator=g)
    for kind in KINDS:
        images = synthetic_negatives(kind, 6, (1, 12, 12), g, real=real, other=real)
        assert images.shape == (6, 1, 12, 12) and images.dtype == torch.uint8, kind
    assert mixed_negatives(20, (3, 12, 12), g).shape == (20, 3, 12, 12)
    with pytest.raises(ValueError, match="need real images"):
        synthetic_negatives("blurred", 2, (1, 12, 12), g)


def test_forgetting_accuracy_of_the_shipped_classifier_on_real_digits(mnist_test) -> None:
    classifier = gen_unlearn.load_classifier("mnist-classifier")
    threes = first_of(mnist_test, [3], 0, 64).permute(0, 2, 3, 1).numpy()  # NHWC uint8, as sampling returns
    fives = first_of(mnist_test, [5], 0, 64).permute(0, 2, 3, 1).numpy()
    still_there = forgetting_scores(classify(classifier, threes), forget_class=3)
    gone = forgetting_scores(classify(classifier, fives), forget_class=3)
    assert still_there.forgetting_accuracy >= 0.95 and still_there.mean_forget_probability >= 0.9
    assert gone.forgetting_accuracy <= 0.05 and gone.mean_forget_probability <= 0.1
    assert still_there.mean_entropy < 0.3


# -- FID ----------------------------------------------------------------------------------------------


def test_clean_fid_runs_on_a_scipy_whose_sqrtm_takes_no_disp(real_sets) -> None:
    """clean-fid 0.1.35 calls sqrtm(A, disp=False), which newer SciPy refuses (a lent GPU machine's did): the
    adapted sqrtm gives the value clean-fid gives on a SciPy that still takes it."""
    a, b = real_sets["same"], real_sets["reference"]
    adapted = clean_fid_frechet(a, b, adapt_sqrtm=True)
    assert adapted > 1.0
    if sqrtm_takes_disp():  # this SciPy can run clean-fid as it is
        assert adapted == pytest.approx(clean_fid_frechet(a, b, adapt_sqrtm=False), rel=1e-9)


def test_fid_of_a_set_against_itself_is_zero(real_images, real_sets, inception) -> None:
    backend = make_backend("torch-fidelity", inception)
    reference = real_sets["reference"]
    assert abs(backend.frechet(reference, reference)) < 1e-2
    assert backend.frechet(real_sets["same"], reference) > 10  # and another sample of the same classes is not
    few = real_images["reference"][::4]  # the convenience API, features extracted twice
    assert abs(compute_fid(few, few, backends=("torch-fidelity",), inception=inception)["torch-fidelity"]) < 1e-2


def test_batched_resize_matches_the_per_image_reference(real_images, inception) -> None:
    images = torch.cat([real_images["reference"], real_images["same"]])
    for method in ("pil-bicubic", "tf1-bilinear"):
        batched, reference = resize_batch(images, method), resize_per_image(images, method)
        assert batched.shape == reference.shape == (len(images), 3, 299, 299)
        assert (batched - reference).abs().max() < 0.05, method  # grey levels out of 255
    fid = {}
    for name, resize in (("batched", resize_batch), ("per image", resize_per_image)):
        features = {k: inception(resize(v, "pil-bicubic")).numpy() for k, v in real_images.items()}
        stats = {k: torch_fidelity_statistics(v) for k, v in features.items()}
        fid[name] = make_backend("torch-fidelity", inception).frechet(stats["same"], stats["reference"])
    assert relative_difference(fid["batched"], fid["per image"]) < 0.001, fid


def test_fid_rises_when_a_class_is_dropped(real_sets, inception) -> None:
    backend = make_backend("torch-fidelity", inception)
    same = backend.frechet(real_sets["same"], real_sets["reference"])
    dropped = backend.frechet(real_sets["dropped"], real_sets["reference"])
    assert dropped > 1.15 * same, f"FID without class 1 {dropped:.1f}, with it {same:.1f}"


def test_torch_fidelity_calculate_metrics_runs_offline_on_the_registered_extractor(
    real_images, real_sets, inception
) -> None:
    import torch_fidelity

    metrics = torch_fidelity.calculate_metrics(
        input1=UInt8Images(real_images["same"]),
        input2=UInt8Images(real_images["reference"]),
        fid=True,
        feature_extractor=register_torch_fidelity_extractor(),
        feature_extractor_weights_path=str(INCEPTION),
        cuda=False,
        cache=False,
        save_cpu_ram=True,
        verbose=False,
    )
    expected = make_backend("torch-fidelity", inception).frechet(real_sets["same"], real_sets["reference"])
    assert metrics[torch_fidelity.KEY_METRIC_FID] == pytest.approx(expected, rel=1e-4)


def test_both_backends_agree_within_one_percent_and_the_report_records_its_protocol(
    inception, data_root, tmp_path
) -> None:
    pipe = gen_unlearn.load_pipeline("mnist-ddpm")
    pipe.set_progress_bar_config(disable=True)
    common = {"num_samples": 2, "num_inference_steps": 4, "reference_per_class": 2, "data_root": data_root}
    common.update(inception=inception, fid_backends=("torch-fidelity", "clean-fid"), progress=False)
    report = gen_unlearn.evaluate(pipe, "three", pipeline_name="mnist-ddpm", **common)
    separate = gen_unlearn.evaluate(pipe, "three", fid_features="separate", **common)  # each library's own path
    fid = report.fid
    assert set(fid) == {"torch-fidelity", "clean-fid"} and all(np.isfinite(v) and v > 0 for v in fid.values())
    assert relative_difference(fid["torch-fidelity"], fid["clean-fid"]) < 0.01, fid
    assert relative_difference(separate.fid["torch-fidelity"], separate.fid["clean-fid"]) < 0.01, separate.fid
    for backend in fid:  # the shared pass gives what each library's own extraction gives
        assert relative_difference(fid[backend], separate.fid[backend]) < 0.01, (fid, separate.fid)
    assert report.protocol["fid"]["clean-fid"]["features"].startswith("one Inception pass shared")
    assert separate.protocol["fid"]["clean-fid"]["features"].startswith("lossless PNG files")
    shared_times = [report.protocol["fid"][b]["timings_s"]["sample_features"] for b in fid]
    assert shared_times[1] < 0.5 * shared_times[0], f"the second backend extracts nothing: {shared_times}"

    assert report.forget_class == 3 and report.forgetting.num_samples == 2
    assert sorted(report.remain_accuracy) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    protocol = report.protocol
    assert protocol["num_fid_samples"] == 18 and protocol["reference"]["num_images"] == 18
    assert protocol["reference"]["dataset"] == "mnist" and protocol["reference"]["split"] == "test"
    assert protocol["num_inference_steps"] == 4 and protocol["guidance_scale"] == 2.0 and protocol["seed"] == 0
    assert protocol["sampler"] == type(pipe.scheduler).__name__
    for backend in ("torch-fidelity", "clean-fid"):
        assert protocol["fid"][backend]["weights_sha256"] == INCEPTION_SHA256
        assert protocol["fid"][backend]["resize"] == "pil-bicubic"
        assert protocol["reference"]["cache"][backend]["file"]
    assert {"torch-fidelity", "clean-fid", "torch", "diffusers"} <= set(protocol["versions"])
    assert {"sampling", "features", "reference_features", "fid", "total"} <= set(report.timings_s)
    assert protocol["wall_time_s"] > 0

    path = tmp_path / "report.json"
    report.save(path)
    saved = json.loads(path.read_text())
    assert saved["fid"] == pytest.approx(fid) and saved["forgetting_accuracy"] == report.forgetting.forgetting_accuracy
    assert "forgetting accuracy (FA)" in report.table() and "FID [clean-fid]" in report.table()


def test_reference_statistics_are_computed_once_and_cached(private_cache) -> None:
    torch.manual_seed(0)
    backend = DomainBackend(ClassifierFeatures(SmallCNN(num_classes=3, image_size=8), "tiny"))
    images = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8)
    first = reference_statistics(backend, images, {"dataset": "random"}, progress=False)
    again = reference_statistics(backend, images, {"dataset": "random"}, progress=False)
    assert not first.cached and again.cached and again.cache_file == first.cache_file
    assert str(private_cache) in first.cache_file
    assert np.array_equal(first.stats.mu, again.stats.mu) and np.array_equal(first.stats.sigma, again.stats.sigma)
    other = reference_statistics(backend, images.flip(0)[:11], {"dataset": "random"}, progress=False)
    assert not other.cached and other.cache_file != first.cache_file


def test_a_missing_inception_file_says_how_to_give_one(tmp_path, monkeypatch) -> None:
    with pytest.raises(InceptionWeightsNotFoundError, match="--inception PATH"):
        resolve_inception_path(tmp_path / "nope.pt")
    with pytest.raises(InceptionWeightsNotFoundError, match="GEN_UNLEARN_INCEPTION"):
        resolve_inception_path(tmp_path)  # a folder without the file
    monkeypatch.setenv("GEN_UNLEARN_INCEPTION", str(INCEPTION.parent))
    assert resolve_inception_path() == INCEPTION.resolve()


# -- grid ---------------------------------------------------------------------------------------------


def test_grid_has_a_row_per_class_blocks_that_line_up_and_marks_the_forgotten_class() -> None:
    pipe = tiny_ddpm()
    changed = copy.deepcopy(pipe)
    with torch.no_grad():
        changed.unet.conv_out.bias.add_(0.5)
    one = class_grid(pipe, ["a"], num_per_class=3, num_inference_steps=2, scale=2, progress=False)
    two = class_grid(
        [pipe, copy.deepcopy(pipe), changed],
        ["before", "same", "changed"],
        num_per_class=3,
        forget_class=1,
        num_inference_steps=2,
        scale=2,
        progress=False,
    )
    width, height = block_size(rows=3, cols=3, height=8, width=8, scale=2)
    assert one.image.height == two.image.height == HEADER_HEIGHT + height
    assert two.image.width - one.image.width == 2 * (width + BLOCK_GAP)

    pixels = np.asarray(two.image)
    left = one.image.width - width  # where the first block starts
    starts = [left + i * (width + BLOCK_GAP) for i in range(3)]
    blocks = [pixels[HEADER_HEIGHT:, start : start + width] for start in starts]
    row = slice(2 * 2, 2 * 2 + 8 * 2)  # the first row (padding 2, images 8, scale 2), away from the marked one
    assert np.array_equal(blocks[0][row], blocks[1][row])  # same seeds, same weights: the same images
    assert not np.array_equal(blocks[0][row], blocks[2][row])
    assert (pixels == np.array(MARK_COLOUR, np.uint8)).all(-1).sum() > 50  # the frame of the forgotten row
    assert not (np.asarray(one.image) == np.array(MARK_COLOUR, np.uint8)).all(-1).any()
    assert two.protocol["forget_class"] == 1 and len(two.protocol["pipelines"]) == 3


# -- the loop hook and the bench ------------------------------------------------------------------------


def test_erase_calls_on_step_after_every_step_with_the_training_time() -> None:
    pipe = tiny_ddpm()
    calls = []
    erase(
        pipe,
        1,
        "ga",
        steps=3,
        data=tiny_sets(pipe),
        training=TrainingConfig(batch_size=4, progress=False, device="cpu"),
        on_step=lambda done, seconds, erased: calls.append((done, seconds, erased.unet.conv_out.bias.clone())),
    )
    assert [c[0] for c in calls] == [1, 2, 3]
    assert all(b[1] >= a[1] >= 0 for a, b in itertools.pairwise(calls))
    assert not torch.equal(calls[0][2], calls[2][2])  # the pipeline passed is the one being trained


def tiny_bench_setup() -> tuple[Any, Any, TrainingConfig, dict[str, Any]]:
    """A tiny pipeline, its forget/remain sets, training settings and evaluation settings for a bench."""
    pipe = tiny_ddpm()
    sets = tiny_sets(pipe)
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=3, image_size=8)
    g = torch.Generator().manual_seed(1)
    reference = LabeledImages(
        "tiny", torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8, generator=g), torch.arange(30) % 3, list("abc")
    )
    training = TrainingConfig(batch_size=4, progress=False, device="cpu")
    evaluation = {
        "num_samples": 4,
        "classifier": classifier,
        "reference": reference,
        "fid_backends": (),
        "domain_fid": True,  # no Inception here: the FID path is tested above
        "num_inference_steps": 2,
        "progress": False,
    }
    return pipe, sets, training, evaluation


def test_bench_snapshots_match_separate_erases_and_it_writes_its_files(tmp_path) -> None:
    pipe, sets, training, evaluation = tiny_bench_setup()
    result = bench(
        pipe, 1, "ga,rl", "0,1,3", tmp_path / "bench", retrained=pipe, data=sets, training=training,
        save_pipelines=True, **evaluation,
    )  # fmt: skip
    assert [(r.method, r.steps) for r in result.rows] == [
        ("ga", 0),
        ("ga", 1),
        ("ga", 3),
        ("rl", 0),
        ("rl", 1),
        ("rl", 3),
    ]
    assert result.rows[0].report is result.original.report

    separate = erase(pipe, 1, "rl", steps=3, data=sets, training=training)
    direct = gen_unlearn.evaluate(separate, 1, **evaluation)
    snapshot = result.rows[5].report
    assert snapshot.domain_fd == pytest.approx(direct.domain_fd)
    assert snapshot.forgetting == direct.forgetting and snapshot.remain_accuracy == direct.remain_accuracy
    assert result.rows[2].erase_wall_time_s >= result.rows[1].erase_wall_time_s > 0

    out = tmp_path / "bench"
    assert sorted(p.name for p in (out / "pipelines").iterdir()) == ["ga-1", "ga-3", "rl-1", "rl-3"]
    saved_rl = cpu_state(type(pipe).from_pretrained(out / "pipelines" / "rl-3").unet)
    for name, tensor in cpu_state(separate.unet).items():  # the snapshot written mid-run = the finished erase
        assert torch.equal(saved_rl[name], tensor), name
    assert {"results.csv", "results.json", *PLOTS} <= {p.name for p in out.iterdir()}
    lines = (out / "results.csv").read_text().splitlines()
    assert lines[0].startswith("method,steps,forgetting_accuracy") and "classifier_fd_not_inception" in lines[0]
    assert len(lines) == 1 + 6 + 2  # header, the rows, original and retrained
    saved = json.loads((out / "results.json").read_text())
    assert saved["steps"] == [0, 1, 3] and saved["protocol"]["evaluation"]["num_samples_per_class"] == 4
    assert all((out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in PLOTS)

    # The retrained reference here is the original itself: same protocol, same samples, so the ratio is 1.
    assert result.ratio_to_retrained(result.original) == pytest.approx(1.0)
    assert "fid_ratio_to_retrained" in lines[0]
    assert result.steps_to_target(fa_target=1.0, fid_ratio_target=math.inf) == {"ga": 1, "rl": 1}
    assert result.steps_to_target(fa_target=-1.0) == {"ga": None, "rl": None}
    rows = [{**row, "fid_ratio_to_retrained": 1.0, "forgetting_accuracy": 0.5 if row["steps"] == 1 else 0.0}
            for row in result.table_rows()]  # fmt: skip
    assert steps_to_target(rows) == {"ga": 3, "rl": 3}, "step 0 (the original) never counts"


def test_a_bench_runs_each_method_to_its_own_default_length(tmp_path, monkeypatch) -> None:
    pipe, sets, training, evaluation = tiny_bench_setup()
    monkeypatch.setattr(METHODS["ga"], "default_steps", 1)  # short stand-ins for 50 and 1,000
    monkeypatch.setattr(METHODS["rl"], "default_steps", 3)
    result = bench(pipe, 1, "ga,rl", "0,default", tmp_path / "bench", data=sets, training=training, **evaluation)
    assert [(r.method, r.steps) for r in result.rows] == [("ga", 0), ("ga", 1), ("rl", 0), ("rl", 3)]
    assert result.steps == [0, 1, 3] and result.erase_records["rl"]["training"]["steps"] == 3
    assert result.protocol["erase"]["steps"] == {"ga": [0, 1], "rl": [0, 3]}
    assert parse_steps("2,default,0", default=5) == [0, 2, 5]
    with pytest.raises(ValueError, match="'default' means a method's own steps"):
        parse_steps("0,default")
    with pytest.raises(ValueError, match="numbers ≥ 0"):
        bench(pipe, 1, "ga", "0,defualt", tmp_path / "typo", data=sets, training=training, **evaluation)


def interrupt_at(stop_at: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the bench's erase of method `stop_at` stop as an interrupted run does (the ones before it finish)."""

    def erase_until(pipeline: Any, forget_id: int, method: str, **settings: Any) -> Any:
        if method == stop_at:
            raise KeyboardInterrupt
        return erase(pipeline, forget_id, method=method, **settings)

    # the module, not the function `bench` that its package exports under the same name
    monkeypatch.setattr(importlib.import_module("gen_unlearn.evaluation.bench"), "erase", erase_until)


def test_an_interrupted_bench_resumes_from_the_methods_it_finished(tmp_path, monkeypatch) -> None:
    pipe, sets, training, evaluation = tiny_bench_setup()
    out = tmp_path / "bench"
    common = {"retrained": pipe, "data": sets, "training": training, **evaluation}
    interrupt_at("rl", monkeypatch)
    with pytest.raises(KeyboardInterrupt):  # rl stops after ga has finished
        bench(pipe, 1, "ga,rl", "0,2", out, **common)
    monkeypatch.undo()
    kept = out / "results.partial"
    assert {p.name for p in kept.iterdir()} == {"original.json", "method-ga.json"}
    assert not (out / "results.csv").exists()

    # Mark ga's kept evaluation: the rerun must read it back rather than erase and evaluate ga again.
    saved = json.loads((kept / "method-ga.json").read_text())
    saved["result"]["rows"][0]["report"]["forgetting_accuracy"] = 0.625
    (kept / "method-ga.json").write_text(json.dumps(saved))
    shutil.copytree(kept, tmp_path / "other" / "results.partial")
    result = bench(pipe, 1, "ga,rl", "0,2", out, **common)
    assert [(r.method, r.steps) for r in result.rows] == [("ga", 0), ("ga", 2), ("rl", 0), ("rl", 2)]
    assert result.rows[1].report.forgetting.forgetting_accuracy == 0.625, "ga was read back"
    assert result.rows[3].report.forgetting.num_samples == 4 and not kept.exists()
    assert "0.625" in (out / "results.csv").read_text()

    # Other steps are another trajectory: what was kept for 0,2 is not reused for them.
    again = bench(pipe, 1, "ga", "0,1", tmp_path / "other", **common)
    assert again.rows[1].report.forgetting.forgetting_accuracy != 0.625


def test_a_bench_re_measures_when_a_classifier_is_retrained_under_the_same_name(tmp_path, monkeypatch) -> None:
    """Kept results name the classifier's weights, not its name or path (a shipped classifier is retrained in place)."""
    pipe, sets, training, evaluation = tiny_bench_setup()
    judge, out = tmp_path / "judge", tmp_path / "bench"
    evaluation["classifier"].save_pretrained(judge)
    common = {"data": sets, "training": training, **evaluation, "classifier": str(judge)}
    interrupt_at("rl", monkeypatch)
    with pytest.raises(KeyboardInterrupt):  # rl stops after ga has finished: ga's evaluation is kept
        bench(pipe, 1, "ga,rl", "0,2", out, **common)
    monkeypatch.undo()
    kept = out / "results.partial" / "method-ga.json"
    saved = json.loads(kept.read_text())
    saved["result"]["rows"][0]["report"]["forgetting_accuracy"] = 0.625
    kept.write_text(json.dumps(saved))
    torch.manual_seed(1)
    SmallCNN(num_classes=3, image_size=8).save_pretrained(judge)  # retrained, saved where the old one was
    again = bench(pipe, 1, "ga", "0,2", out, **common)
    assert again.rows[1].report.forgetting.forgetting_accuracy != 0.625, "judged again by the new weights"


def test_a_bench_checks_settings_first_and_keys_kept_results_by_the_settings_that_ran(tmp_path, monkeypatch) -> None:
    pipe, sets, training, evaluation = tiny_bench_setup()
    out = tmp_path / "bench"
    common = {"data": sets, "training": training, **evaluation}
    with pytest.raises(ValueError, match="no_such_setting"):
        bench(pipe, 1, "ga,rl", "0,2", out, method_settings={"rl": {"no_such_setting": 1}}, **common)
    assert not (out / "results.partial").exists(), "a bad setting fails before anything is measured"

    interrupt_at("rl", monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        bench(pipe, 1, "sfron,rl", "0,1", out, **common)
    kept = out / "results.partial" / "method-sfron.json"
    kept_key = json.loads(kept.read_text())["key"]
    assert kept_key["settings"]["lr"] == DENOISER_LR["unet"], "the lr that ran"
    assert kept_key["erase"]["training"]["steps"] == 1, "the loop as it ran: up to the largest listed step"
    monkeypatch.undo()
    monkeypatch.setitem(DENOISER_LR, "unet", DENOISER_LR["unet"] / 2)  # another default, the same given settings
    again = bench(pipe, 1, "sfron", "0,1", out, **common)
    assert again.erase_records["sfron"]["settings"]["lr"] == DENOISER_LR["unet"], "measured again at the new default"


def test_a_1000_class_dit_is_evaluated_on_a_seeded_subset_of_remaining_classes() -> None:
    pipe = tiny_dit(num_classes=1000)
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=1000, in_channels=3, image_size=8, reject=True)
    common = {"classifier": classifier, "fid_backends": (), "num_inference_steps": 2, "progress": False}
    report = gen_unlearn.evaluate(pipe, 207, num_samples=2, remain_classes=3, seed=1, **common)
    chosen = report.protocol["remain_classes"]
    assert len(chosen["evaluated"]) == 3 and 207 not in chosen["evaluated"] and chosen["of"] == 999
    assert sorted(report.remain_accuracy) == chosen["evaluated"] and report.forgetting.num_samples == 2
    again = gen_unlearn.evaluate(pipe, 207, num_samples=2, remain_classes=3, seed=1, **common)
    assert again.protocol["remain_classes"] == chosen, "the choice is seeded"
    assert set(report.forgetting.drawn_as) <= {*map(str, range(1000)), "none"}
    with pytest.raises(ValueError, match="at least 1"):
        gen_unlearn.evaluate(pipe, 207, num_samples=2, remain_classes=0, **common)
    rows = default_grid_classes(1000, 207, seed=0)
    assert len(rows) == 10 and rows[0] == 207 and default_grid_classes(10, 3) == list(range(10))


def test_precomputed_reference_statistics_give_the_same_fid(inception, data_root, tmp_path) -> None:
    pipe = gen_unlearn.load_pipeline("mnist-ddpm")
    pipe.set_progress_bar_config(disable=True)
    common = {"num_samples": 2, "num_inference_steps": 2, "inception": inception, "progress": False}
    common["fid_backends"] = ("torch-fidelity",)
    from_images = gen_unlearn.evaluate(pipe, 3, reference_per_class=2, data_root=data_root, **common)
    cached = from_images.protocol["reference"]["cache"]["torch-fidelity"]["file"]
    with np.load(cached) as data:  # as clean-fid and ADM store them: mu and sigma only
        np.savez(tmp_path / "ref.npz", mu=data["mu"], sigma=data["sigma"])
    from_stats = gen_unlearn.evaluate(pipe, 3, reference_stats=tmp_path / "ref.npz", **common)
    assert from_stats.fid["torch-fidelity"] == pytest.approx(from_images.fid["torch-fidelity"], rel=1e-9)
    assert from_stats.protocol["reference"]["statistics"] == str(tmp_path / "ref.npz")


def test_bad_reference_statistics_fail_before_any_sampling(tmp_path) -> None:
    pipe = tiny_ddpm()
    np.savez(tmp_path / "images.npz", arr_0=np.zeros((2, 8, 8, 3), np.uint8))
    np.savez(tmp_path / "small.npz", mu=np.zeros(64), sigma=np.eye(64))
    common = {"classifier": SmallCNN(num_classes=3, image_size=8), "num_samples": 1, "progress": False}
    with pytest.raises(ValueError, match="has no mu and sigma"):
        gen_unlearn.evaluate(pipe, 1, reference_stats=tmp_path / "images.npz", **common)
    with pytest.raises(ValueError, match="64-d features but Inception's pool features are 2048-d"):
        gen_unlearn.evaluate(pipe, 1, reference_stats=tmp_path / "small.npz", **common)
    with pytest.raises(FileNotFoundError, match="do not exist"):
        gen_unlearn.evaluate(pipe, 1, reference_stats=tmp_path / "none.npz", **common)


def test_a_1000_class_dit_evaluates_with_an_image_folder_reference_and_a_torchscript_classifier(
    inception, tmp_path, capsys
) -> None:
    pipe = tiny_dit(num_classes=1000)
    root = tmp_path / "reference"
    for c in range(1000):  # one folder per class, named by index, two 8×8 images each
        (root / str(c)).mkdir(parents=True)
        for j in range(2):
            Image.new("RGB", (12, 10), (c % 256, j * 100, 50)).save(root / str(c) / f"{j}.png")
    torch.manual_seed(0)
    scripted = torch.jit.trace(SmallCNN(num_classes=1000, in_channels=3, image_size=8, reject=True).eval(),
                               torch.zeros(1, 3, 8, 8))  # fmt: skip
    torch.jit.save(scripted, tmp_path / "classifier.pt")
    report = gen_unlearn.evaluate(
        pipe, 207, num_samples=2, remain_classes=3, classifier=str(tmp_path / "classifier.pt"), dataset="imagefolder",
        data_root=root, reference_per_class=2, inception=inception, fid_backends=("torch-fidelity",),
        num_inference_steps=2, progress=False,
    )  # fmt: skip
    assert np.isfinite(report.fid["torch-fidelity"]) and report.protocol["reference"]["num_images"] == 6
    assert report.protocol["reference"]["classes"] == report.protocol["remain_classes"]["evaluated"]
    assert report.protocol["classifier"]["reject_output"] and report.protocol["classifier"]["name"].endswith(".pt")
    with pytest.raises(ValueError, match="has 10 outputs but the pipeline has 1000 classes"):
        torch.jit.save(torch.jit.trace(SmallCNN(num_classes=10, in_channels=3, image_size=8).eval(),
                                       torch.zeros(1, 3, 8, 8)), tmp_path / "ten.pt")  # fmt: skip
        gen_unlearn.evaluate(pipe, 207, num_samples=1, classifier=str(tmp_path / "ten.pt"), fid_backends=())
    empty = tmp_path / "empty"
    (empty / "999").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(empty / "999" / "0.png")
    with pytest.raises(ValueError, match="has none of the remaining classes"):
        gen_unlearn.evaluate(pipe, 999, num_samples=1, remain_classes=2, classifier=scripted, dataset="imagefolder",
                             data_root=empty, inception=inception, fid_backends=("torch-fidelity",))  # fmt: skip


# -- classifiers of other classes: torchvision, class-index maps ----------------------------------------


class FixedLogits(torch.nn.Module):
    """A classifier that gives the same logits, whatever the images (the first len(images) rows)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits[: len(images)]


def test_a_class_map_sums_the_probabilities_of_the_mapped_classes_and_rejects_the_rest() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0, 1.0], [0.0, 0.0, 3.0, -2.0]])
    fixed = FixedLogits(logits)
    mapped = ClassMapped(fixed, {0: [0, 1], 1: [2]}, num_classes=2, num_outputs=4)
    p, q = mapped(torch.zeros(2, 1, 8, 8)).softmax(-1), logits.softmax(-1)
    assert torch.allclose(p, torch.stack([q[:, 0] + q[:, 1], q[:, 2], q[:, 3]], dim=-1), atol=1e-6)
    assert rejects(mapped) and mapped.config.class_map == {"0": [0, 1], "1": [2]}
    everything = ClassMapped(fixed, {0: [0, 1], 1: [2, 3]}, num_classes=2, num_outputs=4)
    assert not rejects(everything) and everything(torch.zeros(1, 1, 8, 8)).shape == (1, 2)


def test_bad_class_maps_are_one_line_errors() -> None:
    pipe = tiny_ddpm()
    with pytest.raises(ValueError, match="no entry for pipeline classes \\[2\\]"):
        read_class_map({"0": 0, "1": [1, 2]}, pipe, num_outputs=10)
    with pytest.raises(ValueError, match="outside the classifier's 10 outputs"):
        read_class_map({"0": 0, "1": 1, "2": 10}, pipe, num_outputs=10)


def test_a_torchvision_classifier_loads_offline_with_its_preprocessing_and_judges_through_a_map(
    tmp_path, monkeypatch
) -> None:
    from torchvision import models

    weights = models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    torch.manual_seed(0)
    network = models.mobilenet_v3_small(num_classes=1000)  # random weights in the real layout
    cached = tmp_path / "torch-home" / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    torch.save(network.state_dict(), cached)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # torch's cache, as a user's machine has it
    pipe, spec = tiny_ddpm(), "torchvision:mobilenet_v3_small:IMAGENET1K_V1"
    with pytest.raises(ValueError, match="has 1000 outputs but the pipeline has 3 classes: pass --class-map"):
        gen_unlearn.evaluate(pipe, 1, num_samples=1, classifier=spec, fid_backends=())
    class_map = tmp_path / "map.json"
    class_map.write_text(json.dumps({"0": [0, 1], "1": 2, "2": [3]}))
    report = gen_unlearn.evaluate(pipe, 1, num_samples=3, classifier=spec, class_map=class_map, fid_backends=(),
                                  num_inference_steps=2, progress=False)  # fmt: skip
    record = report.protocol["classifier"]
    assert record["reject_output"] and record["class_map"] == {"0": [0, 1], "1": [2], "2": [3]}
    assert record["preprocessing"]["crop_size"] == [224] and record["preprocessing"]["resize_size"] == [256]
    assert record["preprocessing"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert sum(report.forgetting.drawn_as.values()) == pytest.approx(1.0)

    state_file = tmp_path / "weights.pth"  # the offline path: a state-dict file, same weights, same verdicts
    torch.save(network.state_dict(), state_file)
    device = torch.device("cpu")
    from_cache, _ = resolve_classifier(spec, device, pipe, class_map)
    from_file, _ = resolve_classifier(f"torchvision:mobilenet_v3_small:{state_file}", device, pipe, class_map)
    images = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(from_cache(images), from_file(images))

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))  # not cached, and no way out: a closed proxy
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(ValueError, match=r"not in torch's cache .* or pass torchvision:mobilenet_v3_small:/path"):
        resolve_classifier(spec, device, pipe, class_map)
    with pytest.raises(ValueError, match="has no weights 'IMAGENET9K'"):
        resolve_classifier("torchvision:mobilenet_v3_small:IMAGENET9K", device, pipe, class_map)
    with pytest.raises(ValueError, match="torchvision has no model 'resnet7'"):
        resolve_classifier("torchvision:resnet7", device, pipe, class_map)


def test_several_forgotten_classes_get_fa_each_and_together_and_ra_covers_the_rest() -> None:
    pipe = tiny_ddpm(num_classes=4)
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=4, in_channels=1, image_size=8, reject=True)
    report = gen_unlearn.evaluate(pipe, "1,3", num_samples=6, classifier=classifier, fid_backends=(),
                                  num_inference_steps=2, progress=False)  # fmt: skip
    assert report.forget_class == [1, 3] and sorted(report.forgetting_per_class) == [1, 3]
    assert sorted(report.remain_accuracy) == [0, 2] and report.forgetting.num_samples == 12
    each = [report.forgetting_per_class[c].forgetting_accuracy for c in (1, 3)]
    assert report.forgetting.forgetting_accuracy == pytest.approx(sum(each) / 2)
    assert sum(report.forgetting.drawn_as.values()) == pytest.approx(1.0)
    assert "FA, class 3" in report.table() and set(report.to_dict()["forgetting_per_class"]) == {"1", "3"}
