"""Ensembles for cross-validation (#18 §2): members that share a fold's split and differ in
the weights' seed, scored on their common test images by their averaged probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.model.classification import classify_items, open_classifier
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.datasets import load_labelled_data, run_split
from galaxy_studio.model.ensemble import ensemble_test_report
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.metrics import classification_report
from galaxy_studio.model.training import TrainResult, train_classifier

from .conftest import tiny_config

EPOCHS = 3


@pytest.fixture(scope="module")
def members(demo_set: Path, tmp_path_factory: pytest.TempPathFactory) -> list[TrainResult]:
    """Fold 2 of 3 trained twice with the weights seeded apart, and once with another split seed."""
    root = tmp_path_factory.mktemp("ensemble")
    configs = [
        tiny_config(demo_set, root / "first", epochs=EPOCHS, fold=(2, 3)),
        tiny_config(demo_set, root / "second", epochs=EPOCHS, fold=(2, 3), weights_seed=5),
        tiny_config(demo_set, root / "other-split", epochs=EPOCHS, fold=(2, 3), seed=1),
    ]
    return [train_classifier(config) for config in configs]


def test_members_seeded_apart_share_the_split_and_differ_in_their_weights(members: list[TrainResult]) -> None:
    first, second, other = members
    assert first.metrics["split"] == second.metrics["split"], "the same train, validation and test images"
    assert other.metrics["split"] != first.metrics["split"]
    first_history = [epoch["train_loss"] for epoch in first.history]
    second_history = [epoch["train_loss"] for epoch in second.history]
    assert first_history != second_history, "other initial weights and augmentation"


def test_the_weights_seed_is_recorded_only_when_set() -> None:
    """Runs and cross-validations of earlier versions keep their recipes (and resume)."""
    plain = TrainConfig(data="d", out_dir="o")
    member = TrainConfig(data="d", out_dir="o", weights_seed=3)
    assert "weights_seed" not in plain.to_dict() and plain.training_seed == 0
    assert member.to_dict()["weights_seed"] == 3 and member.training_seed == 3
    assert TrainConfig.from_dict(json.loads(json.dumps(member.to_dict()))) == member
    with pytest.raises(ModelError, match="at least 0"):
        TrainConfig(data="d", out_dir="o", weights_seed=-1)


def test_an_ensemble_of_one_scores_as_its_run_did(members: list[TrainResult]) -> None:
    """Decoding, predicting and calibrating again reproduce the run's own test report."""
    first = members[0]
    report = ensemble_test_report([first.run_dir])
    assert report["members"] == 1 and report["n"] == first.metrics["n"]
    for name in ("accuracy", "balanced_accuracy", "macro_auc"):
        assert report[name] == pytest.approx(first.metrics[name], abs=1e-9), name


def test_an_ensemble_averages_its_members_probabilities(members: list[TrainResult]) -> None:
    first, second, _ = members
    report = ensemble_test_report([first.run_dir, second.run_dir])
    assert report["members"] == 2 and report["n"] == first.metrics["n"]
    twice = ensemble_test_report([first.run_dir, first.run_dir])
    assert twice["macro_auc"] == pytest.approx(first.metrics["macro_auc"], abs=1e-9), "a mean of equals"
    # The members' AUCs differ, so the average's differs from at least one of them.
    singles = {first.metrics["macro_auc"], second.metrics["macro_auc"]}
    assert len(singles) == 2 and not np.isclose(report["macro_auc"], list(singles)).all()


def test_members_tested_on_other_images_are_refused(members: list[TrainResult], tmp_path: Path) -> None:
    first, _, other = members
    with pytest.raises(ModelError, match="other images"):
        ensemble_test_report([first.run_dir, other.run_dir])
    with pytest.raises(ModelError, match="not a finished training run"):
        ensemble_test_report([first.run_dir, str(tmp_path)])


def test_with_tta_each_member_is_scored_as_classify_tta_scores_it(members: list[TrainResult], demo_set: Path) -> None:
    first = members[0]
    report = ensemble_test_report([first.run_dir], tta=True)
    labelled = load_labelled_data(str(demo_set))
    split = first.metrics["split"]
    _, _, test = run_split(labelled.labels, split["fractions"], split["seed"], split["fold"], classes=labelled.classes)
    items = [labelled.items[int(i)] for i in test]
    predictions, _ = classify_items(open_classifier(first.checkpoint), items, tta=True, device="cpu")
    expected = classification_report(
        labelled.labels[test], np.array([p.probabilities for p in predictions]), labelled.classes
    )
    assert report["tta"] and report["n"] == expected["n"]
    for name in ("accuracy", "balanced_accuracy", "macro_auc"):
        assert report[name] == pytest.approx(expected[name], abs=1e-9), name
    plain = classify_items(open_classifier(first.checkpoint), items, device="cpu")[0]
    assert [p.probabilities for p in plain] != [p.probabilities for p in predictions], "other views were averaged"
