"""K-fold cross-validation: folds that test every image once without leaking it into its own
training, refused when a class is too small, resumable fold by fold, and `train --cv K`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.cli import main
from galaxy_studio.events import Cancelled, CancelToken, EpochEnded, Noted, Progressed, Warned
from galaxy_studio.model.calibration import (
    binned_calibration_error,
    expected_calibration_error,
    pooled_reliability,
    reliability_bins,
)
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.cross_validation import cross_validate
from galaxy_studio.model.cross_validation_results import (
    CV_FILE,
    CrossValidationResult,
    MeanStd,
    read_cross_validation,
)
from galaxy_studio.model.datasets import (
    fold_split,
    load_labelled_data,
    min_images_per_class_for_folds,
    run_split,
    stratified_folds,
    stratified_split,
)
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.evaluation import evaluate_classifier
from galaxy_studio.model.runs import is_cross_validation, list_cross_validations, list_runs

from .conftest import DEMO_PER_CLASS, tiny_config

# Unequal classes whose counts k does not divide.
LABELS = np.array([0] * 23 + [1] * 11 + [2] * 7)
K = 5
# Fast enough for three folds on two busy cores, and still well above chance on the demo set.
FOLD_EPOCHS = 8


def test_folds_cover_every_image_once_in_equal_stratified_parts() -> None:
    folds = stratified_folds(LABELS, K, seed=0)
    assert folds.shape == LABELS.shape and set(folds.tolist()) == set(range(1, K + 1)), "each image in one fold"
    sizes = np.bincount(folds)[1:]
    assert sizes.sum() == len(LABELS) and sizes.max() - sizes.min() <= 1
    for label, count in Counter(LABELS.tolist()).items():
        per_fold = np.bincount(folds[LABELS == label], minlength=K + 1)[1:]
        assert per_fold.min() >= 1 and per_fold.max() - per_fold.min() <= 1, f"class {label}: {per_fold}"
        assert per_fold.sum() == count
    assert np.array_equal(folds, stratified_folds(LABELS, K, seed=0)), "seeded"
    assert not np.array_equal(folds, stratified_folds(LABELS, K, seed=1))


def test_a_folds_test_images_never_train_or_validate_it() -> None:
    folds = stratified_folds(LABELS, K, seed=0)
    tested = []
    for fold in range(1, K + 1):
        train, val, test = fold_split(LABELS, fold, K, seed=0)
        assert np.array_equal(test, np.flatnonzero(folds == fold))
        assert not set(test.tolist()) & (set(train.tolist()) | set(val.tolist())), "no leakage"
        assert not set(train.tolist()) & set(val.tolist())
        assert sorted([*train.tolist(), *val.tolist(), *test.tolist()]) == list(range(len(LABELS)))
        for label in range(3):
            rest = int(np.sum(LABELS[np.concatenate([train, val])] == label))
            assert int(np.sum(LABELS[val] == label)) == round(rest * 15 / 85), "train:val = 70:15 in every class"
        assert np.array_equal(np.concatenate(run_split(LABELS, (0.7, 0.15, 0.15), 0, (fold, K))), [*train, *val, *test])
        tested.extend(test.tolist())
    assert sorted(tested) == list(range(len(LABELS))), "every image is tested exactly once over the folds"
    assert all(
        np.array_equal(a, b) for a, b in zip(run_split(LABELS, (0.7, 0.15, 0.15), 0), stratified_split(LABELS))
    ), "a run without a fold keeps its split"


def test_too_few_images_for_the_folds_are_refused_naming_the_class() -> None:
    assert min_images_per_class_for_folds(5) == 5, "one per fold leaves 4 beside it: 3 train, 1 validation"
    assert min_images_per_class_for_folds(2) == 6, "half must hold 3 images for train and validation"
    assert min_images_per_class_for_folds(10) == 10
    labels = np.array([0] * 20 + [1] * 4 + [2] * 9)
    with pytest.raises(ModelError, match=r"5-fold cross-validation.*5 per class are needed \(galaxy has 4\)") as error:
        stratified_folds(labels, 5, classes=("spiral", "galaxy", "star"))
    assert "star" not in str(error.value) and "fewer folds" in error.value.hint
    with pytest.raises(ModelError, match=r"6 per class are needed \(class 1 has 4\)"):
        fold_split(labels, 1, 2)
    with pytest.raises(ModelError, match="at least 2 folds"):
        stratified_folds(labels, 1)
    with pytest.raises(ModelError, match="fold 6 of 5"):
        fold_split(LABELS, 6, 5)


def test_a_fold_is_part_of_the_recipe_and_other_runs_record_none(demo_set: Path, tmp_path: Path) -> None:
    plain = tiny_config(demo_set, tmp_path / "run")
    assert "fold" not in plain.to_dict(), "records of runs without folds are those of earlier versions"
    fold = tiny_config(demo_set, tmp_path / "run", fold=(2, 5))
    assert fold.to_dict()["fold"] == [2, 5] and fold.recipe() != plain.recipe()
    assert TrainConfig.from_dict(json.loads(json.dumps(fold.to_dict()))) == fold
    for impossible in ((0, 5), (6, 5), (1, 1)):
        with pytest.raises(ModelError, match="fold must be"):
            tiny_config(demo_set, tmp_path / "run", fold=impossible)


@pytest.fixture(scope="module")
def cross_validated(demo_set: Path, tmp_path_factory: pytest.TempPathFactory) -> CrossValidationResult:
    out = tmp_path_factory.mktemp("cv") / "run"
    return cross_validate(tiny_config(demo_set, out, epochs=FOLD_EPOCHS), 3)


def test_a_cross_validation_reports_each_fold_and_their_mean_and_spread(
    cross_validated: CrossValidationResult, demo_set: Path
) -> None:
    result = cross_validated
    assert [fold.fold for fold in result.folds] == [1, 2, 3] and result.k == 3
    assert [fold.metrics["n"] for fold in result.folds] == [DEMO_PER_CLASS] * 3, "90 images, 10 per class a fold"
    assert result.images == 3 * DEMO_PER_CLASS
    accuracies = [fold.metrics["accuracy"] for fold in result.folds]
    summary = result.summary
    assert summary["accuracy"] == MeanStd(float(np.mean(accuracies)), float(np.std(accuracies, ddof=1)), 3)
    assert summary["accuracy"].mean >= 0.7, "three classes: guessing gives 1/3"
    assert summary["macro_auc"] is not None and summary["macro_auc"].mean >= 0.85
    assert summary["balanced_accuracy"] is not None and summary["balanced_accuracy"].n == 3
    labelled = load_labelled_data(demo_set)
    folds = stratified_folds(labelled.labels, 3)
    for fold in result.folds:
        split = fold.metrics["split"]
        assert split["fold"] == [fold.fold, 3]
        assert split["counts"] == {"train": 48, "val": 12, "test": 30}, "the other 60 split 70:15"
        tested = labelled.subset(np.flatnonzero(folds == fold.fold))
        assert fold.metrics["n"] == len(tested)
    record = json.loads((Path(result.run_dir) / CV_FILE).read_text())
    assert record["k"] == 3 and record["summary"]["accuracy"]["std"] == pytest.approx(summary["accuracy"].std)
    assert [fold["metrics"] for fold in record["folds"]] == [fold.metrics for fold in result.folds]
    assert record["config"]["epochs"] == FOLD_EPOCHS and "fold" not in record["config"]


def test_the_pooled_metrics_count_every_image_once(cross_validated: CrossValidationResult) -> None:
    pooled = cross_validated.pooled_metrics()
    matrix = np.asarray(pooled["confusion"])
    assert matrix.sum() == pooled["n"] == cross_validated.images
    assert matrix.sum(axis=1).tolist() == [DEMO_PER_CLASS] * 3, "each class's images once"
    right = sum(fold.metrics["accuracy"] * fold.metrics["n"] for fold in cross_validated.folds)
    assert pooled["accuracy"] == pytest.approx(right / cross_validated.images)
    assert sum(record["count"] for record in pooled["reliability"]) == cross_validated.images
    assert 0.0 <= pooled["ece"] <= 1.0 and "temperature" not in pooled, "each fold had its own"


def test_pooled_reliability_bins_are_those_of_all_the_images_at_once() -> None:
    rng = np.random.default_rng(4)
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], size=300)
    labels = rng.integers(0, 3, size=300)
    parts = [reliability_bins(probabilities[i::3], labels[i::3]) for i in range(3)]
    pooled = pooled_reliability(parts)
    whole = reliability_bins(probabilities, labels)
    assert [(b["low"], b["count"]) for b in pooled] == [(b["low"], b["count"]) for b in whole]
    for mine, theirs in zip(pooled, whole):
        assert mine["confidence"] == pytest.approx(theirs["confidence"])
        assert mine["accuracy"] == pytest.approx(theirs["accuracy"])
    assert binned_calibration_error(pooled) == pytest.approx(expected_calibration_error(probabilities, labels))


def test_evaluating_a_folds_model_on_its_test_split_gives_its_metrics(
    cross_validated: CrossValidationResult, demo_set: Path
) -> None:
    fold = cross_validated.folds[1]
    checkpoint = Path(cross_validated.run_dir) / fold.run_dir / "model.pt"
    report = evaluate_classifier(checkpoint, demo_set, split="test", device="cpu")
    assert report["n"] == fold.metrics["n"] and report["accuracy"] == fold.metrics["accuracy"]
    assert report["confusion"] == fold.metrics["confusion"]


def test_a_folder_of_another_cross_validation_or_a_run_is_refused(
    cross_validated: CrossValidationResult, demo_set: Path
) -> None:
    run_dir = Path(cross_validated.run_dir)
    before = sorted(path.name for path in run_dir.iterdir())
    with pytest.raises(ModelError, match=r"another config or number of folds \(k 3 there, 4 asked\)"):
        cross_validate(tiny_config(demo_set, run_dir, epochs=FOLD_EPOCHS), 4)
    with pytest.raises(ModelError, match=rf"\(epochs {FOLD_EPOCHS} there, {FOLD_EPOCHS + 1} asked\)"):
        cross_validate(tiny_config(demo_set, run_dir, epochs=FOLD_EPOCHS + 1), 3)
    with pytest.raises(ModelError, match="a training run, not a cross-validation"):
        cross_validate(tiny_config(demo_set, run_dir / "fold_1", epochs=FOLD_EPOCHS), 3)
    assert sorted(path.name for path in run_dir.iterdir()) == before


def test_a_stopped_cross_validation_continues_with_the_finished_folds(demo_set: Path, tmp_path: Path) -> None:
    config = tiny_config(demo_set, tmp_path / "cv", epochs=3)
    token = CancelToken()

    def cancel_in_fold_two(event: object) -> None:
        if isinstance(event, Progressed) and event.what == "epoch 2/3" and (tmp_path / "cv" / "fold_2").is_dir():
            token.set()

    with pytest.raises(Cancelled):
        cross_validate(config, 3, emit=cancel_in_fold_two, cancel=token)
    (listed,) = list_cross_validations(tmp_path)
    assert listed.status == "unfinished" and listed.metrics == {"cross_validation": {"k": 3, "finished": 1}}
    assert is_cross_validation(listed) and list_runs(tmp_path) == [], "its folds are not models to list"
    assert TrainConfig.from_dict(listed.config) == config, "the record keeps the config that continues it"
    fold_1 = tmp_path / "cv" / "fold_1" / "model.pt"
    written = fold_1.stat().st_mtime_ns
    assert (tmp_path / "cv" / "fold_2" / "last.pt").is_file() and not (tmp_path / "cv" / "fold_3").exists()
    assert [fold["fold"] for fold in json.loads((tmp_path / "cv" / CV_FILE).read_text())["folds"]] == [1]

    events: list[object] = []
    result = cross_validate(config, 3, emit=events.append)
    assert [fold.reused for fold in result.folds] == [True, False, False]
    assert fold_1.stat().st_mtime_ns == written, "the finished fold is read back, not trained again"
    assert any(isinstance(e, Noted) and e.text.startswith("fold 1/3 (finished earlier") for e in events)
    assert any(isinstance(e, Warned) and "resuming" in e.text and "fold_2" in e.text for e in events)
    epochs = [e.epoch for e in events if isinstance(e, EpochEnded)]
    assert epochs == [2, 3, 1, 2, 3], "fold 2 continues after its first epoch, fold 3 runs whole"
    assert [e.done for e in events if isinstance(e, Progressed) and e.what == "folds"] == [0, 1, 2, 3]
    (listed,) = list_cross_validations(tmp_path)
    assert listed.status == "finished" and listed.metrics["n"] == result.images
    assert listed.metrics["accuracy"] == pytest.approx(result.pooled_metrics()["accuracy"])
    read = read_cross_validation(tmp_path / "cv")
    assert read is not None and (read.k, read.config, read.run_dir) == (3, config.to_dict(), str(tmp_path / "cv"))
    assert [fold.to_dict() for fold in read.folds] == [fold.to_dict() for fold in result.folds]


TINY = ["--epochs", "2", "--size", "16", "--crop", "1", "--width", "8", "--batch-size", "16", "--device", "cpu"]


def test_train_cv_prints_the_folds_and_their_summary(
    demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cv"
    assert main(["train", str(demo_set), "--out", str(out), "--cv", "3", *TINY]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out.strip().splitlines()[-1])
    assert record["k"] == 3 and record["images"] == 3 * DEMO_PER_CLASS and record["run_dir"] == str(out)
    assert record["cv_file"] == str(out / CV_FILE) and (out / CV_FILE).is_file()
    assert set(record["summary"]) == {"accuracy", "balanced_accuracy", "macro_auc"}
    assert sorted(path.name for path in out.iterdir()) == [CV_FILE, "fold_1", "fold_2", "fold_3"]
    assert "3-fold cross-validation of 90 images" in captured.err
    mean = record["summary"]["accuracy"]
    assert f"mean ± std  {mean['mean']:.4f} ± {mean['std']:.4f}" in captured.err
    assert "cross-validation: 3/3 folds done" in captured.err


def test_train_cv_refuses_too_few_images_or_folds(
    demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cv"
    assert main(["train", str(demo_set), "--out", str(out), "--cv", "40", *TINY]) != 0
    err = capsys.readouterr().err
    assert "40-fold cross-validation" in err and "Round Smooth has 30" in err and "epoch" not in err
    assert not out.exists(), "refused before anything is written"
    with pytest.raises(SystemExit):
        main(["train", str(demo_set), "--out", str(out), "--cv", "1", *TINY])
    assert "at least 2 folds" in capsys.readouterr().err


def test_train_cv_estimate_times_one_fold_and_trains_nothing(
    demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cv"
    assert main(["train", str(demo_set), "--out", str(out), "--cv", "3", "--estimate", *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("About ") and lines[1].startswith("Cross-validation trains 3 such runs: about ")
    assert "of the 3 training steps of an epoch" in lines[2], "a fold trains on 48 images: 3 batches of 16"
    assert not out.exists()


def test_damaged_cross_validation_records_are_not_listed(tmp_path: Path) -> None:
    for name, text in (("garbage", "{not json"), ("no-config", '{"k": 3, "folds": []}'), ("no-k", '{"folds": []}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / CV_FILE).write_text(text)
    assert list_cross_validations(tmp_path) == [] and read_cross_validation(tmp_path / "garbage") is None
    assert list_cross_validations(tmp_path / "nowhere") == []
