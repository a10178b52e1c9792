"""Import and export: exact round trips, bad label files, and the real Galaxy Zoo layouts."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from galaxy_studio.data.formats import read_cutout
from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES
from galaxy_studio.data.thumbnails import content_fingerprint
from galaxy_studio.events import Cancelled, CancelToken
from galaxy_studio.labels import exchange
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES, ClassScheme
from galaxy_studio.labels.store import Project, ProjectError

from .conftest import snapshot, write_pngs

SPIRAL = BUILTIN_SCHEMES["spiral"]


def by_content(project: Project) -> dict[str, str]:
    """Consensus class per image, keyed by the image's content hash (survives copying)."""
    hashes = {image.id: image.content_hash for image in project.images()}
    return {hashes[i]: label.class_name for i, label in project.labels().items()}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_round_trips_keep_every_label_exactly(tmp_path: Path, labelled: Project, fmt: str) -> None:
    out = tmp_path / f"labels.{fmt}"
    writer = exchange.export_csv if fmt == "csv" else exchange.export_json
    report = writer(labelled, out)
    assert report.labels == 6 and report.per_class == {"spiral": 3, "non-spiral": 3}
    with Project.create(tmp_path / "copy.gsproj", SPIRAL) as copy:
        reader = exchange.import_csv if fmt == "csv" else exchange.import_json
        imported = reader(copy, out)
        assert (imported.labels, imported.images_added, imported.skipped) == (6, 5, [])
        assert snapshot(copy) == snapshot(labelled)
        assert copy.stats().to_json() == {**labelled.stats().to_json(), "images": 5}


def test_csv_export_columns_and_consensus(tmp_path: Path, labelled: Project) -> None:
    exchange.export_csv(labelled, tmp_path / "all.csv")
    exchange.export_csv(labelled, tmp_path / "one.csv", consensus=True)
    exchange.export_csv(labelled, tmp_path / "ada.csv", labeller="ada")
    rows = list(csv.DictReader(open(tmp_path / "all.csv", encoding="utf-8")))
    assert list(rows[0]) == list(exchange.CSV_COLUMNS)
    assert {row["confidence"] for row in rows if row["labeller"] == "net"} == {"0.8125", repr(1 / 3)}
    assert all(row["timestamp"].endswith("+00:00") for row in rows)
    assert [row["class_index"] for row in rows if row["class"] == "non-spiral"] == ["1"] * 3
    assert len(list(csv.DictReader(open(tmp_path / "one.csv")))) == 5
    assert {row["labeller"] for row in csv.DictReader(open(tmp_path / "ada.csv"))} == {"ada"}
    with pytest.raises(ProjectError, match="no labels by 'zed'"):
        exchange.export_csv(labelled, tmp_path / "zed.csv", labeller="zed")


def test_a_hand_written_csv_imports_and_exports_back_the_same_pairs(tmp_path: Path) -> None:
    files = write_pngs(tmp_path / "cutouts", 4)
    (tmp_path / "cutouts" / "labels.csv").write_text(
        "filename;morphology\n"
        "galaxy0000.png;spiral\n"
        "../cutouts/galaxy0001.png;1\n"
        "/old/machine/data/galaxy0002.png;non-spiral\n"
        f"{files[3]};0\n",
        encoding="utf-8",
    )
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        report = exchange.import_csv(project, tmp_path / "cutouts" / "labels.csv")
        assert (report.labels, report.images_added, report.skipped) == (4, 4, [])
        assert {label.labeller for label in project.all_labels()} == {"labels.csv"}
        exchange.export_csv(project, tmp_path / "out.csv")
    pairs = {(Path(row["path"]).name, row["class"]) for row in csv.DictReader(open(tmp_path / "out.csv"))}
    assert pairs == {
        ("galaxy0000.png", "spiral"),
        ("galaxy0001.png", "non-spiral"),
        ("galaxy0002.png", "non-spiral"),
        ("galaxy0003.png", "spiral"),
    }


def test_a_labeller_column_gives_several_labellers(tmp_path: Path) -> None:
    write_pngs(tmp_path, 2)
    (tmp_path / "votes.csv").write_text(
        "path,class,labeller\ngalaxy0000.png,spiral,ada\ngalaxy0000.png,non-spiral,bob\ngalaxy0001.png,spiral,ada\n"
    )
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        exchange.import_csv(project, tmp_path / "votes.csv")
        stats = project.stats()
        assert stats.labellers == {"ada": 2, "bob": 1}
        assert stats.sources == {"import": 2}


def test_csv_rows_that_cannot_be_used_are_skipped_with_reasons(tmp_path: Path) -> None:
    write_pngs(tmp_path, 2)
    (tmp_path / "l.csv").write_text(
        "path,class,confidence,source\n"
        "galaxy0000.png,spiral,high,\n"
        "gone.png,spiral,,\n"
        ",spiral,,\n"
        "galaxy0001.png,spiral,0.5,robot\n"
        "galaxy0001.png,,0.5,\n"
        "galaxy0001.png,non-spiral,0.25,model\n"
    )
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        report = exchange.import_csv(project, tmp_path / "l.csv")
        reasons = [reason for _, reason in report.skipped]
        assert report.labels == 1 and len(reasons) == 5
        assert reasons[0].startswith("not a number") and reasons[1] == "file not found"
        assert reasons[2] == "no path" and "robot" in reasons[3] and reasons[4] == "no class"
        (label,) = project.all_labels()
        assert (label.class_name, label.source, label.confidence) == ("non-spiral", "model", 0.25)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"file,kind\na.png,spiral\n", "no class column .*found: file, kind"),
        (b"label\nspiral\n", "no path column"),
        ("path,class\ngalaxy0000.png,spirål\n".encode("latin-1"), "not UTF-8 text \\(byte 0xe5"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
        (b"", "empty"),
    ],
)
def test_a_bad_csv_is_refused_and_nothing_is_written(tmp_path: Path, content: bytes, problem: str) -> None:
    write_pngs(tmp_path, 1)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        with pytest.raises(ProjectError, match=problem) as caught:
            exchange.import_csv(project, bad)
        assert str(caught.value).startswith(f"{bad}: ")
        assert project.images() == [] and project.all_labels() == []


def test_a_utf16_csv_with_a_bom_is_read(tmp_path: Path) -> None:
    write_pngs(tmp_path, 1)
    (tmp_path / "u.csv").write_bytes("path,class\ngalaxy0000.png,spiral\n".encode("utf-16"))
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        assert exchange.import_csv(project, tmp_path / "u.csv").labels == 1


def test_an_unknown_class_refuses_the_whole_file(tmp_path: Path) -> None:
    write_pngs(tmp_path, 3)
    (tmp_path / "l.csv").write_text("path,class\ngalaxy0000.png,spiral\ngalaxy0001.png,bar\ngalaxy0002.png,bar\n")
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        with pytest.raises(ProjectError) as caught:
            exchange.import_csv(project, tmp_path / "l.csv")
        message = str(caught.value)
        assert "'bar' (2x)" in message and "spiral, non-spiral" in message and "nothing was imported" in message
        assert project.images() == [] and project.all_labels() == []
        report = exchange.import_csv(project, tmp_path / "l.csv", renames={"bar": "spiral"})
        assert report.per_class == {"spiral": 3}


def test_folders_round_trip_by_content(tmp_path: Path) -> None:
    write_pngs(tmp_path / "in" / "spiral", 3, seed=1)
    write_pngs(tmp_path / "in" / "non-spiral", 2, seed=2)
    write_pngs(tmp_path / "in", 1, prefix="loose", seed=3)
    with Project.create(tmp_path / "a.gsproj", SPIRAL) as first:
        report = exchange.import_folders(first, tmp_path / "in")
        assert report.labels == 5 and report.per_class == {"spiral": 3, "non-spiral": 2}
        assert [reason for _, reason in report.skipped] == ["not inside a class folder"]
        assert {label.labeller for label in first.all_labels()} == {"in"}
        out = exchange.export_folders(first, tmp_path / "out")
        assert out.labels == 5
        linked = exchange.export_folders(first, tmp_path / "linked", link=True)
        assert linked.labels == 5
        expected = by_content(first)
    copies = sorted((tmp_path / "out").rglob("*.png"))
    assert {(p.parent.name, p.name) for p in copies} == {
        *(("spiral", f"galaxy{n:04d}.png") for n in range(3)),
        *(("non-spiral", f"galaxy{n:04d}.png") for n in range(2)),
    }
    assert all(p.is_symlink() for p in (tmp_path / "linked").rglob("*.png"))
    for folder in ("out", "linked"):
        with Project.create(tmp_path / f"{folder}.gsproj", SPIRAL) as second:
            exchange.import_folders(second, tmp_path / folder)
            assert by_content(second) == expected
    with pytest.raises(ProjectError, match="not an empty folder"):
        with Project.open(tmp_path / "a.gsproj") as first:
            exchange.export_folders(first, tmp_path / "out")


def test_folder_export_keeps_same_named_files_apart(tmp_path: Path) -> None:
    write_pngs(tmp_path / "night1", 1, seed=1)
    write_pngs(tmp_path / "night2", 1, seed=2)
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        project.add_paths([tmp_path / "night1", tmp_path / "night2"])
        for image in project.images():
            project.label(image.id, "spiral", labeller="ada")
        exchange.export_folders(project, tmp_path / "out")
        second = project.images()[1].id
    assert {p.name for p in (tmp_path / "out" / "spiral").iterdir()} == {"galaxy0000.png", f"galaxy0000-{second}.png"}


def write_galaxy10(path: Path, ans: list[int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    arrays = {
        "images": rng.integers(0, 256, (len(ans), 256, 256, 3), dtype=np.uint8),
        "ans": np.array(ans, np.uint8),
        "ra": np.linspace(10.0, 20.0, len(ans)),
        "dec": np.linspace(-5.0, 5.0, len(ans)),
        "redshift": np.linspace(0.01, 0.1, len(ans)),
        "pxscale": np.full(len(ans), 0.262),
    }
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle[key] = value
    return arrays


def test_galaxy10_round_trip_keeps_labels_pixels_and_positions(tmp_path: Path) -> None:
    source = write_galaxy10(tmp_path / "Galaxy10_DECals.h5", [0, 9, 5, 5, 2])
    with Project.create(tmp_path / "a.gsproj", BUILTIN_SCHEMES["galaxy10"]) as project:
        report = exchange.import_galaxy10(project, tmp_path / "Galaxy10_DECals.h5")
        assert (report.labels, report.images_added) == (5, 5)
        assert [project.labels()[i.id].class_name for i in project.images()] == [
            GALAXY10_CLASSES[k] for k in (0, 9, 5, 5, 2)
        ]
        out = exchange.export_galaxy10(project, tmp_path / "out.h5")
        assert out.labels == 5 and out.skipped == []
    with h5py.File(tmp_path / "out.h5", "r") as handle:
        assert handle["images"].shape == (5, 256, 256, 3) and handle["images"].dtype == np.uint8
        assert np.array_equal(handle["images"][()], source["images"])
        assert handle["ans"][()].tolist() == [0, 9, 5, 5, 2]
        for key in ("ra", "dec", "redshift", "pxscale"):
            assert np.allclose(handle[key][()], source[key])
        assert list(handle.attrs["class_names"]) == list(GALAXY10_CLASSES)
    with Project.create(tmp_path / "b.gsproj", BUILTIN_SCHEMES["galaxy10"]) as copy:
        exchange.import_galaxy10(copy, tmp_path / "out.h5")
        assert [copy.labels()[i.id].class_name for i in copy.images()] == [GALAXY10_CLASSES[k] for k in (0, 9, 5, 5, 2)]


def test_galaxy10_export_of_other_images_uses_the_project_classes(tmp_path: Path, samples: Path) -> None:
    write_pngs(tmp_path / "in" / "spiral", 2, side=40, seed=1)
    write_pngs(tmp_path / "in" / "non-spiral", 1, side=20, seed=2)
    fits = tmp_path / "in" / "non-spiral" / "sdss.fits"
    shutil.copy(samples / "1_15_SDSS_gband.fits", fits)
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        exchange.import_folders(project, tmp_path / "in")
        out = exchange.export_galaxy10(project, tmp_path / "out.h5")
        order = [project.labels()[image.id].class_name for image in project.images()]
    cutout = read_cutout(fits)
    centre = cutout.centre_sky_position()
    assert centre is not None
    with h5py.File(tmp_path / "out.h5", "r") as handle:
        ans = handle["ans"][()].tolist()
        assert ans == [SPIRAL.classes.index(name) for name in order] and sorted(ans) == [0, 0, 1, 1]
        assert handle["images"].shape == (4, 256, 256, 3)
        names = [name for name in handle.attrs["source_paths"]]
        row = names.index("sdss.fits")
        assert handle["ra"][row] == pytest.approx(centre[0]) and handle["dec"][row] == pytest.approx(centre[1])
        assert handle["pxscale"][row] == pytest.approx(0.396 * 455 / 256, rel=0.02)
        assert np.isnan(handle["redshift"][row]) and np.isnan(handle["ra"][names.index("galaxy0000.png")])
        assert handle["images"][row].std() > 10, "the FITS image was drawn, not left blank"
    assert out.per_class == {"spiral": 2, "non-spiral": 2}
    with Project.create(tmp_path / "q.gsproj", SPIRAL) as copy:
        assert exchange.import_galaxy10(copy, tmp_path / "out.h5").per_class == {"spiral": 2, "non-spiral": 2}


def test_galaxy10_import_needs_ans_and_known_classes(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "unlabelled.h5", "w") as handle:
        handle["images"] = np.zeros((2, 8, 8, 3), np.uint8)
    write_galaxy10(tmp_path / "g10.h5", [0, 1])
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        with pytest.raises(ProjectError, match="no 'ans' dataset"):
            exchange.import_galaxy10(project, tmp_path / "unlabelled.h5")
        with pytest.raises(ProjectError, match="'Disturbed' \\(1x\\), 'Merging' \\(1x\\)"):
            exchange.import_galaxy10(project, tmp_path / "g10.h5")
        report = exchange.import_galaxy10(
            project, tmp_path / "g10.h5", renames={"Disturbed": "non-spiral", "Merging": "non-spiral"}
        )
        assert report.per_class == {"non-spiral": 2}


def test_gz_challenge_votes_choose_the_larger_fraction(tmp_path: Path, label_samples: Path) -> None:
    folder = label_samples / "gz-challenge"
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        report = exchange.import_gz_votes(
            project,
            folder / "training_solutions_rev1.csv",
            [("Class1.1", "non-spiral"), ("Class1.2", "spiral")],
            threshold=0.5,
        )
        assert (report.labels, report.images_added, report.skipped) == (3, 3, [])
        got = {
            Path(project.image(i).path).name: (label.class_name, label.confidence)  # type: ignore[union-attr]
            for i, label in project.labels().items()
        }
    assert got == {
        "100008.jpg": ("spiral", 0.616853),
        "100023.jpg": ("spiral", 0.663777),
        "100053.jpg": ("non-spiral", 0.765717),
    }


def test_gz2_votes_find_images_through_the_id_mapping(tmp_path: Path, label_samples: Path) -> None:
    folder = label_samples / "gz2"
    answers = [
        ("t01_smooth_or_features_a01_smooth_debiased", "non-spiral"),
        ("t01_smooth_or_features_a02_features_or_disk_debiased", "spiral"),
    ]
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        with pytest.raises(ProjectError, match="no image found for any row.*dr7objid.*--id-map"):
            exchange.import_gz_votes(project, folder / "gz2_hart16.csv", answers)
        report = exchange.import_gz_votes(
            project, folder / "gz2_hart16.csv", answers, id_map=folder / "gz2_filename_mapping.csv"
        )
        assert report.labels == 3
        got = {
            Path(project.image(i).path).name: (label.class_name, label.confidence)  # type: ignore[union-attr]
            for i, label in project.labels().items()
        }
    assert got == {
        "106587.jpg": ("spiral", 1.0),
        "16126.jpg": ("spiral", 0.6669999957084656),
        "91609.jpg": ("spiral", 0.9430000185966492),
    }


def test_gz_decals_posteriors_find_the_png_by_name_and_apply_the_threshold(tmp_path: Path, label_samples: Path) -> None:
    table = label_samples / "gz-decals" / "gz_decals_auto_posteriors.csv"
    answers = [
        ("smooth-or-featured_smooth_fraction", "non-spiral"),
        ("smooth-or-featured_featured-or-disk_fraction", "spiral"),
    ]
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        strict = exchange.import_gz_votes(project, table, answers, threshold=0.5)
        assert strict.labels == 0
        ((where, reason),) = strict.skipped
        assert where.endswith("J022745.78-010914.1.png") and "0.186 is below the threshold 0.5" in reason
        loose = exchange.import_gz_votes(project, table, answers, threshold=0.1, labeller="gz-decals")
        assert loose.labels == 1
        (label,) = project.all_labels()
        assert (label.class_name, label.confidence, label.labeller) == ("non-spiral", 0.18558048194617227, "gz-decals")


def test_gz_decals_volunteer_debiased_votes_with_png_loc(tmp_path: Path, label_samples: Path) -> None:
    folder = tmp_path / "gz5"
    folder.mkdir()
    shutil.copy(label_samples / "gz-decals" / "gz_decals_volunteers_5.csv", folder)
    for name in ("J100/J100403.94+182735.8.png", "J124/J124641.47-041304.7.png"):
        (folder / "dr5" / name).parent.mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(folder / "dr5" / name)
    answers = [("has-spiral-arms_yes_debiased", "spiral"), ("has-spiral-arms_no_debiased", "non-spiral")]
    with Project.create(tmp_path / "p.gsproj", SPIRAL) as project:
        report = exchange.import_gz_votes(project, folder / "gz_decals_volunteers_5.csv", answers)
        assert report.labels == 1
        assert report.skipped == [
            (str(folder / "dr5" / "J124" / "J124641.47-041304.7.png"), "no value in the chosen answer columns")
        ]
        (label,) = project.all_labels()
        assert (label.class_name, label.confidence) == ("spiral", 1.0)
        with pytest.raises(ProjectError, match="no column 'has-spiral'.*has-spiral-arms_yes_fraction"):
            exchange.import_gz_votes(project, folder / "gz_decals_volunteers_5.csv", [("has-spiral", "spiral")])
        with pytest.raises(ProjectError, match="'barred' \\(1x\\)"):
            exchange.import_gz_votes(
                project, folder / "gz_decals_volunteers_5.csv", [("bar_strong_fraction", "barred")]
            )


def test_answers_mapped_to_one_class_add_up(tmp_path: Path) -> None:
    write_pngs(tmp_path, 1)
    (tmp_path / "votes.csv").write_text(
        "id,bar_strong_fraction,bar_weak_fraction,bar_no_fraction\ngalaxy0000,0.3,0.35,0.35\n"
    )
    scheme = ClassScheme("bars", ("barred", "unbarred"))
    with Project.create(tmp_path / "p.gsproj", scheme) as project:
        exchange.import_gz_votes(
            project,
            tmp_path / "votes.csv",
            [("bar_strong_fraction", "barred"), ("bar_weak_fraction", "barred"), ("bar_no_fraction", "unbarred")],
        )
        (label,) = project.all_labels()
        assert label.class_name == "barred" and label.confidence == pytest.approx(0.65)


def test_the_report_serialises(tmp_path: Path, labelled: Project) -> None:
    report = exchange.export_json(labelled, tmp_path / "l.json")
    assert json.loads(json.dumps(report.to_json()))["labels"] == 6
    assert report.summary() == f"export json: 6 labels ({tmp_path / 'l.json'})"
    document = json.loads((tmp_path / "l.json").read_text())
    assert document["format"] == "galaxy-studio-labels" and document["classes"] == ["spiral", "non-spiral"]
    assert content_fingerprint(tmp_path / "l.json")


def test_exports_skip_missing_files_and_leave_nothing_half_written(tmp_path: Path, labelled: Project) -> None:
    first = labelled.images()[0]
    Path(first.path).unlink()
    report = exchange.export_folders(labelled, tmp_path / "links", link=True)
    assert report.skipped == [(first.path, "file not found")] and report.labels == 4
    assert all(link.exists() for link in (tmp_path / "links").rglob("*.png")), "no dangling links"
    token = CancelToken()
    events: list[object] = []

    def cancel_after_two(event: object) -> None:
        events.append(event)
        if len(events) == 3:
            token.set()

    with pytest.raises(Cancelled):
        exchange.export_galaxy10(labelled, tmp_path / "out.h5", emit=cancel_after_two, cancel=token)
    assert list(tmp_path.glob("*out.h5*")) == []
    exchange.export_csv(labelled, tmp_path / "l.csv")
    assert (tmp_path / "l.csv").stat().st_mode & 0o044 == 0o044, "exports are readable like other files"
