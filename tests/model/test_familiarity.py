"""Saying when an input is unlike the training data (#17 §2): the training profile and the
out-of-distribution score saved in the checkpoint, the warnings a single-band FITS gets from a
model trained on colour JPEGs, scores that rank noise above galaxies, the CSV columns, and old
checkpoints that still classify without either."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galaxy_studio.cli import main
from galaxy_studio.data.catalog import CatalogItem, read_item
from galaxy_studio.events import Warned
from galaxy_studio.model.checkpoint import CLASSIFIER_FORMAT, load_payload, save_payload
from galaxy_studio.model.classification import ClassifyConfig, Prediction, classify, classify_items, open_classifier
from galaxy_studio.model.out_of_distribution import OodScorer, chance_flag_rate, energy_scores, fit_ood_scorer
from galaxy_studio.model.preprocessing import extract_channels
from galaxy_studio.model.training import TrainResult, train_classifier
from galaxy_studio.model.training_profile import TrainingProfile, input_warnings, pixel_scale_arcsec

from ..conftest import DEMO_CLASSES, tiny_config, write_demo_classes

SINGLE_BAND_FITS = "1_15_SDSS_gband.fits"


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Galaxies like the training ones that the network never saw (another seed)."""
    return write_demo_classes(tmp_path_factory.mktemp("held"), DEMO_CLASSES, per_class=8, size=40, seed=11)


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Colour JPEGs of uniform noise: the same format and bands as the training images."""
    folder = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"noise{index}.jpg")
    return folder


def test_the_checkpoint_records_the_training_profile_and_a_calibrated_score(trained_run: TrainResult) -> None:
    classifier = open_classifier(trained_run.checkpoint)
    assert classifier.profile is not None and classifier.ood is not None
    assert classifier.profile.bands == ("R", "G", "B") and classifier.profile.formats == ("jpeg",)
    assert classifier.profile.pixel_scale is None, "JPEGs carry no WCS"
    assert len(classifier.profile.mean_range) == 3
    assert all(low < high for low, high in classifier.profile.mean_range)
    assert classifier.ood.method == "mahalanobis"
    assert list(classifier.ood.quantiles) == sorted(classifier.ood.quantiles)
    assert classifier.ood.quantiles[0] <= classifier.ood.threshold <= classifier.ood.quantiles[-1]
    assert len(classifier.ood.class_means) == 3 and len(classifier.ood.directions) == 16, "all 16 features measured"


def test_a_single_band_fits_on_a_three_band_model_is_warned(trained_run: TrainResult, samples: Path) -> None:
    result = classify(ClassifyConfig(trained_run.checkpoint, (str(samples / SINGLE_BAND_FITS),), device="cpu"))
    (prediction,) = result.predictions
    assert prediction.warnings[0] == "1 band, the model learned from 3 (R, G, B)"
    assert prediction.unfamiliar


def test_a_colour_jpeg_like_the_training_images_gets_no_warning(trained_run: TrainResult, held_out: Path) -> None:
    result = classify(ClassifyConfig(trained_run.checkpoint, (str(held_out),), device="cpu"))
    assert len(result.predictions) == 24
    assert all(prediction.warnings == () for prediction in result.predictions)


def test_pixel_scale_and_format_are_compared_with_the_training_files(samples: Path) -> None:
    cutout = read_item(CatalogItem(str(samples / SINGLE_BAND_FITS)))
    scale = pixel_scale_arcsec(cutout)
    assert scale == pytest.approx(0.396, abs=0.01), "SDSS's 0.396 arcsec pixels"
    profile = TrainingProfile(("band0",), ("fits",), (0.26, 0.26), ((-5.0, 5.0),), (0.0, 10.0))
    from galaxy_studio.model.preprocessing import Preprocessing

    prep = Preprocessing(32, 1.0, "bands", bands=("band0",), mean=(0.0,), std=(1.0,))
    pixels = extract_channels(cutout, prep)
    assert input_warnings(profile, cutout, pixels, prep) == ["pixel scale 0.40″/px, training 0.26″/px"]
    same_survey = TrainingProfile(("band0",), ("fits",), (0.35, 0.45), ((-5.0, 5.0),), (0.0, 10.0))
    assert input_warnings(same_survey, cutout, pixels, prep) == []
    from_pictures = TrainingProfile(("band0",), ("jpeg", "png"), None, ((-5.0, 5.0),), (0.0, 10.0))
    assert input_warnings(from_pictures, cutout, pixels, prep) == [
        "a FITS file, the model learned from JPEG or PNG files"
    ]
    brighter = TrainingProfile(("band0",), ("fits",), None, ((3.0, 3.5),), (0.0, 10.0))
    assert input_warnings(brighter, cutout, pixels, prep) == ["brightness far outside the training images"]


def test_noise_scores_above_the_galaxies_and_is_flagged(trained_run: TrainResult, held_out: Path, noise: Path) -> None:
    classifier = open_classifier(trained_run.checkpoint)
    galaxies, _ = classify_items(
        classifier, [CatalogItem(str(p)) for p in sorted(held_out.rglob("*.jpg"))], device="cpu"
    )
    other, _ = classify_items(classifier, [CatalogItem(str(p)) for p in sorted(noise.glob("*.jpg"))], device="cpu")
    galaxy_scores = np.array([p.ood_score for p in galaxies])
    noise_scores = np.array([p.ood_score for p in other])
    assert noise_scores.min() > np.median(galaxy_scores)
    assert all(p.ood_flag and p.ood_percentile == 100.0 for p in other)
    assert np.mean([p.ood_flag for p in galaxies]) <= 0.25, "held-out galaxies are mostly not flagged"
    assert all(0.0 <= p.ood_percentile <= 100.0 for p in galaxies)


def test_the_scorer_flags_about_one_percent_of_its_own_distribution() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 2000)
    centres = np.array([[3.0, 0.0, 0.0, 0.0], [-3.0, 0.0, 0.0, 0.0]])
    train = centres[labels] + rng.normal(size=(4000, 4))
    val_labels = np.repeat([0, 1], 1000)
    val = centres[val_labels] + rng.normal(size=(2000, 4))
    scorer = fit_ood_scorer(train, labels, val, np.zeros((2000, 2)))
    test = centres[val_labels] + rng.normal(size=(2000, 4))
    assert scorer.flags(scorer.scores(test, np.zeros((2000, 2)))).mean() == pytest.approx(0.01, abs=0.007)
    far = np.full((1, 4), 10.0)
    assert scorer.flags(scorer.scores(far, np.zeros((1, 2))))[0]
    assert OodScorer.from_dict(scorer.to_dict()) == scorer
    assert energy_scores(np.array([[0.0, 0.0]]))[0] == pytest.approx(-np.log(2.0))


def test_few_validation_galaxies_flag_only_beyond_all_of_them_and_the_reason_says_how_often_by_chance() -> None:
    """Nine validation scores cannot place a 99th percentile: a new galaxy like them outranks
    all nine one time in ten, so that is the threshold and the reason for a flag says so."""
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1], 30)
    train = rng.normal(size=(60, 3)) + 4.0 * labels[:, None]
    val = rng.normal(size=(9, 3)) + 4.0 * np.repeat([0, 1], [5, 4])[:, None]
    scorer = fit_ood_scorer(train, labels, val, np.zeros((9, 2)))
    assert scorer.validation_images == 9
    assert scorer.threshold == pytest.approx(scorer.scores(val, np.zeros((9, 2))).max())
    fresh_labels = np.repeat([0, 1], 5000)
    fresh = rng.normal(size=(10000, 3)) + 4.0 * fresh_labels[:, None]
    flagged = scorer.flags(scorer.scores(fresh, np.zeros((10000, 2)))).mean()
    assert flagged == pytest.approx(chance_flag_rate(9), abs=0.08) and chance_flag_rate(9) == pytest.approx(0.1)
    assert chance_flag_rate(2000) <= 0.01 and chance_flag_rate(0) == pytest.approx(0.01)
    assert OodScorer.from_dict(scorer.to_dict()) == scorer

    def reason(validation_images: int, percentile: float = 100.0) -> str:
        flagged_one = Prediction(
            "x.png", None, (0.5, 0.5), "a", 0.5, 0.69, 0.0, 9.0, percentile, True, validation_images
        )
        return flagged_one.unfamiliar_reasons[0]

    assert "than those of all the 9 validation galaxies; with so few, about 1 in 10 galaxies like them" in reason(9)
    assert reason(300).endswith("than those of all the 300 validation galaxies (flagged above 99%)")
    assert reason(300, 99.5).endswith("than those of 99.5% of the 300 validation galaxies (flagged above 99%)")
    assert reason(0).endswith("100.0% of the validation galaxies (flagged above 99%)"), "an old checkpoint"


def test_the_distance_is_mahalanobis_when_features_are_narrow_and_counts_the_rest_when_wide() -> None:
    rng = np.random.default_rng(2)
    mixing = rng.normal(size=(6, 6))
    train = rng.normal(size=(600, 6)) @ mixing
    labels = np.repeat([0, 1], 300)
    train[labels == 1] += 4.0
    val = rng.normal(size=(50, 6)) @ mixing
    scorer = fit_ood_scorer(train, labels, val, np.zeros((50, 2)))
    means = np.stack([train[labels == c].mean(axis=0) for c in (0, 1)])
    centred = train - means[labels]
    inverse = np.linalg.inv(centred.T @ centred / (600 - 2))
    point = rng.normal(size=(1, 6)) * 3
    exact = min(float(((point - m) @ inverse @ (point - m).T)[0, 0]) for m in means)
    assert scorer.scores(point, np.zeros((1, 2)))[0] == pytest.approx(exact, rel=1e-3)

    spread = np.linspace(3.0, 0.1, 500)
    wide_train, wide_val = rng.normal(size=(200, 500)) * spread, rng.normal(size=(100, 500)) * spread
    wide = fit_ood_scorer(wide_train, np.repeat([0, 1], 100), wide_val, np.zeros((100, 2)))
    assert len(wide.directions) == 100 and len(wide.directions[0]) == 500, "one direction per 2 images"
    fresh = rng.normal(size=(1000, 500)) * spread
    assert wide.flags(wide.scores(fresh, np.zeros((1000, 2)))).mean() <= 0.06, "100 images set the 99th percentile"
    fresh[:, -1] += 40.0  # 400 sigma along the narrowest axis, which no leading direction holds
    assert wide.flags(wide.scores(fresh, np.zeros((1000, 2)))).mean() == 1.0


def test_the_csv_gains_familiarity_columns_at_the_end(
    trained_run: TrainResult, demo_set: Path, samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "predictions.csv"
    galaxy = sorted(demo_set.rglob("*.jpg"))[0]
    fits = samples / SINGLE_BAND_FITS
    assert (
        main(["classify", str(trained_run.checkpoint), str(galaxy), str(fits), "--out", str(out), "--device", "cpu"])
        == 0
    )
    with out.open() as stream:
        rows = list(csv.DictReader(stream))
    classes = open_classifier(trained_run.checkpoint).classes
    tail = ["ood_score", "ood_percentile", "unfamiliar", "warnings", "ra", "dec"]
    assert list(rows[0])[4 + len(classes) :] == tail
    by_name = {Path(row["path"]).name: row for row in rows}
    assert by_name[fits.name]["unfamiliar"] == "yes"
    assert by_name[fits.name]["warnings"].startswith("1 band, the model learned from 3 (R, G, B)")
    assert float(by_name[fits.name]["ood_percentile"]) >= 0.0 and by_name[galaxy.name]["warnings"] == ""
    assert "1 of 2 inputs look unlike the training data" in capsys.readouterr().out


def test_an_old_checkpoint_without_the_records_classifies_without_warnings(
    trained_run: TrainResult, samples: Path, tmp_path: Path
) -> None:
    payload = load_payload(trained_run.checkpoint, CLASSIFIER_FORMAT)
    del payload["metadata"]["training_profile"], payload["metadata"]["out_of_distribution"]
    old = tmp_path / "old.pt"
    save_payload(old, payload)
    result = classify(ClassifyConfig(str(old), (str(samples / SINGLE_BAND_FITS),), device="cpu"))
    (prediction,) = result.predictions
    assert prediction.warnings == () and prediction.ood_score is None and not prediction.unfamiliar


def test_a_run_without_validation_images_keeps_its_profile_and_says_it_has_no_score(
    demo_set: Path, tmp_path: Path
) -> None:
    events: list[object] = []
    result = train_classifier(
        tiny_config(demo_set, tmp_path / "run", split=(0.9, 0.0, 0.1), epochs=1), emit=events.append
    )
    classifier = open_classifier(result.checkpoint)
    assert classifier.profile is not None and classifier.ood is None
    assert any("calibrate the out-of-distribution score" in e.text for e in events if isinstance(e, Warned))
