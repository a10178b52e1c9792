"""Survey-size classification (issue #19): inputs streamed in a fixed order, results written
in chunks that an interrupted run reuses, one table merged from them in any format, bad
inputs reported in place, and a resume under another command refused."""

from __future__ import annotations

import csv
import errno
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from galaxy_studio import atomic_files
from galaxy_studio.cli import main
from galaxy_studio.data.catalog import CatalogItem, SkippedInput, iter_catalog_items, scan_folder
from galaxy_studio.events import LeftOut
from galaxy_studio.model import survey_classification
from galaxy_studio.model.classification import ClassifyConfig, classify, write_predictions
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.survey_classification import SurveyConfig, classify_survey
from galaxy_studio.model.survey_parts import PROGRESS_FILE, ResumeError, parts_folder
from galaxy_studio.model.training import TrainResult


def _galaxy10(path: Path, rows: int, *, side: int = 40, seed: int = 0) -> Path:
    """A Galaxy10-layout file of noise galaxies with a sky position per row."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=rng.integers(0, 255, (rows, side, side, 3), dtype=np.uint8))
        handle.create_dataset("ra", data=np.linspace(10.0, 20.0, rows))
        handle.create_dataset("dec", data=np.linspace(-5.0, 5.0, rows))
    return path


def _survey(trained_run: TrainResult, paths: list[Path], out: Path, **options: object) -> SurveyConfig:
    settings: dict[str, object] = {"device": "cpu", "chunk_size": 16, "threads": 1}
    settings.update(options)
    return SurveyConfig(trained_run.checkpoint, tuple(map(str, paths)), str(out), **settings)  # type: ignore[arg-type]


def _assert_same_table(path: Path, expected: Path) -> None:
    """The same header, columns, text and flags, and numbers equal to float32 rounding: the
    network sees chunks of another batch size than the whole set, and on some CPUs the
    convolution takes another kernel for them, so a logit of 30 can differ in its last bit
    (a probability of 1e-13 then in its sixth digit)."""
    from astropy.table import Table

    def header(file: Path) -> list[str]:
        return [line for line in file.read_text(encoding="utf-8").splitlines() if line.startswith("#")]

    assert header(path) == header(expected)
    table, wanted = Table.read(path), Table.read(expected)
    assert table.colnames == wanted.colnames and len(table) == len(wanted)
    for name in wanted.colnames:
        column, reference = np.asarray(table[name]), np.asarray(wanted[name])
        assert column.dtype == reference.dtype, name
        if np.issubdtype(reference.dtype, np.floating):
            # Written with 6 decimals: a value computed a hair apart may round one unit apart.
            np.testing.assert_allclose(column, reference, rtol=1e-4, atol=1.5e-6, err_msg=name)
        else:
            assert column.tolist() == reference.tolist(), name


class _Crash(Exception):
    """Stands for the process dying (kill -9) once some chunks are on disk."""


def _crash_after(monkeypatch: pytest.MonkeyPatch, chunks: int) -> None:
    written = survey_classification.write_chunk

    def write_then_maybe_die(path: Path, rows: object) -> None:
        if len(list(path.parent.glob("chunk-*.jsonl"))) >= chunks:
            raise _Crash()
        written(path, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(survey_classification, "write_chunk", write_then_maybe_die)


def test_folders_stream_in_the_catalogue_order_and_lists_keep_bad_rows_in_place(demo_set: Path, tmp_path: Path) -> None:
    streamed = list(iter_catalog_items([demo_set]))
    assert [entry.path for entry in streamed if isinstance(entry, CatalogItem)] == [
        item.path for item in scan_folder(demo_set).items
    ]
    good = sorted(demo_set.rglob("*.jpg"))[:2]
    listing = tmp_path / "list.csv"
    listing.write_text(f"path,ra,dec\n{good[0]},150.5,2.25\nmissing.jpg,1,2\n,3,4\n{good[1]},151,2.5\n")
    h5 = _galaxy10(tmp_path / "rows.h5", 3)
    entries = list(iter_catalog_items([listing, h5, tmp_path / "absent.fits"]))
    assert entries[0] == CatalogItem(str(good[0]), ra=150.5, dec=2.25)
    assert isinstance(entries[1], SkippedInput) and entries[1].reason == "file not found"
    assert isinstance(entries[2], SkippedInput) and "row 4: empty path" in entries[2].reason
    assert entries[3] == CatalogItem(str(good[1]), ra=151.0, dec=2.5)
    assert [(entry.index, entry.ra) for entry in entries[4:7]] == [(0, 10.0), (1, 15.0), (2, 20.0)]  # type: ignore[union-attr]
    assert entries[7] == SkippedInput(str(tmp_path / "absent.fits"), "file not found")


def test_inputs_are_read_lazily(tmp_path: Path) -> None:
    """The first item of a 100,000-row file comes before the rest are listed."""
    h5 = tmp_path / "big.h5"
    with h5py.File(h5, "w") as handle:
        handle.create_dataset("images", shape=(100_000, 8, 8, 3), dtype=np.uint8)
    stream = iter_catalog_items([h5])
    assert next(stream) == CatalogItem(str(h5), index=0)
    assert sum(1 for _ in stream) == 99_999


def test_chunked_csv_and_ecsv_equal_the_in_memory_table(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    whole = classify(ClassifyConfig(trained_run.checkpoint, (str(demo_set),), device="cpu", threads=1))
    for suffix in (".csv", ".ecsv"):
        expected, out = tmp_path / f"expected{suffix}", tmp_path / f"survey{suffix}"
        write_predictions(whole, expected)
        result = classify_survey(_survey(trained_run, [demo_set], out, chunk_size=7))
        assert (result.classified, result.left_out, result.chunks) == (90, 0, 13)
        _assert_same_table(out, expected)
        assert not parts_folder(out).exists(), "the parts are removed once merged"
    assert result.timing.decode_seconds > 0 and result.timing.network_seconds > 0


def test_a_crashed_run_resumes_from_its_chunks_to_the_same_file(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference.csv"
    classify_survey(_survey(trained_run, [demo_set], reference))
    out = tmp_path / "p.csv"
    with monkeypatch.context() as patch:
        _crash_after(patch, 2)
        with pytest.raises(_Crash):
            classify_survey(_survey(trained_run, [demo_set], out))
    parts = parts_folder(out)
    assert sorted(path.name for path in parts.iterdir()) == [
        "chunk-0.rank-0-of-1.jsonl",
        "chunk-1.rank-0-of-1.jsonl",
        PROGRESS_FILE,
    ]
    assert not out.exists()
    result = classify_survey(_survey(trained_run, [demo_set], out))
    assert (result.reused_chunks, result.chunks, result.classified) == (2, 6, 90)
    assert out.read_bytes() == reference.read_bytes()
    assert not parts.exists()


def test_a_resume_under_another_command_is_refused_naming_the_difference(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cutouts"
    folder.mkdir()
    for source in sorted(demo_set.rglob("*.jpg"))[:20]:
        shutil.copy(source, folder / f"{source.parent.name}-{source.name}")
    out = tmp_path / "p.csv"
    with monkeypatch.context() as patch:
        _crash_after(patch, 1)
        with pytest.raises(_Crash):
            classify_survey(_survey(trained_run, [folder], out))
    with pytest.raises(ResumeError) as refused:
        classify_survey(_survey(trained_run, [folder], out, batch_size=8, chunk_size=32))
    text = str(refused.value)
    assert f"{parts_folder(out)} holds a partial run of another command" in text
    assert "batch_size was 64, now 8" in text and "chunk_size was 16, now 32" in text
    assert f"delete the folder {parts_folder(out)} to start over" in text
    with pytest.raises(ResumeError, match="the inputs differ"):
        classify_survey(_survey(trained_run, [folder, folder], out))
    shutil.copy(next(folder.iterdir()), folder / "added.jpg")
    with pytest.raises(ResumeError, match=r"the inputs hold other files now \(20 entries then, 21 now\)"):
        classify_survey(_survey(trained_run, [folder], out))
    assert len(list(parts_folder(out).glob("chunk-*"))) == 1, "a refused run touches nothing"


def test_fits_and_parquet_carry_the_catalogue_positions(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as parquet
    from astropy.table import Table

    h5 = _galaxy10(tmp_path / "rows.h5", 20)
    fits_out, parquet_out = tmp_path / "p.fits", tmp_path / "p.parquet"
    classify_survey(_survey(trained_run, [h5], fits_out))
    classify_survey(_survey(trained_run, [h5], parquet_out))
    fits_table, parquet_table = Table.read(fits_out), parquet.read_table(parquet_out).to_pydict()
    np.testing.assert_allclose(fits_table["ra"], np.linspace(10.0, 20.0, 20))
    np.testing.assert_allclose(fits_table["dec"], np.linspace(-5.0, 5.0, 20))
    assert fits_table["ra"].unit == "deg"
    assert parquet_table["path"] == [f"{h5}[{row}]" for row in range(20)]
    for name in ("ra", "dec", "confidence", "p_Round Smooth"):
        np.testing.assert_array_equal(parquet_table[name], np.asarray(fits_table[name]))


def test_parquet_without_pyarrow_says_what_to_install(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ModelError, match=r"writing Parquet needs pyarrow.*pip install"):
        classify_survey(_survey(trained_run, [demo_set], tmp_path / "p.parquet"))
    assert not parts_folder(tmp_path / "p.parquet").exists()


def test_bad_inputs_are_reported_in_place_and_the_rest_classified(
    trained_run: TrainResult, demo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a JPEG")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    good = sorted(demo_set.rglob("*.jpg"))[:3]
    events: list[object] = []
    out = tmp_path / "p.csv"
    result = classify_survey(_survey(trained_run, [good[0], broken, notes, *good[1:]], out), emit=events.append)
    assert (result.classified, result.left_out) == (3, 2)
    reported = [event.text for event in events if isinstance(event, LeftOut)]
    assert len(reported) == 2 and str(broken) in reported[0] and f"{notes}: not a supported image" in reported[1]
    with out.open() as stream:
        assert [row["path"] for row in csv.DictReader(stream)] == list(map(str, good))
    code = main(["classify", trained_run.checkpoint, str(notes), str(good[0]), "--out", str(tmp_path / "q.csv")])
    assert code == 1
    captured = capsys.readouterr()
    assert f"error: {notes}: not a supported image" in captured.err
    assert "q.csv: 1 cutout classified" in captured.out and "1 left out" in captured.out


def test_a_full_disk_mid_run_is_one_line_and_keeps_the_finished_parts(
    trained_run: TrainResult,
    demo_set: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    flush = atomic_files.flush_to_disk

    def full_at_second_chunk(path: Path) -> None:
        if Path(path).name.startswith(".chunk-1."):
            raise OSError(errno.ENOSPC, "No space left on device")
        flush(path)

    monkeypatch.setattr(atomic_files, "flush_to_disk", full_at_second_chunk)
    out = tmp_path / "p.csv"
    args = ["classify", trained_run.checkpoint, str(demo_set), "--out", str(out), "--chunk-size", "16"]
    assert main([*args, "--device", "cpu", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "chunk-1.rank-0-of-1.jsonl: cannot write this part of the predictions: No space left on device" in err
    assert "Traceback" not in err and not out.exists()
    assert sorted(path.name for path in parts_folder(out).iterdir()) == ["chunk-0.rank-0-of-1.jsonl", PROGRESS_FILE]
