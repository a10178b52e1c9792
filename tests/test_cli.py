"""The CLI contract users and their scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from galaxy_studio.cli import main


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "galaxy_studio", *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd
    )


def test_inspect_json_reports_every_field(samples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in samples.glob("*_SDSS_gband.fits"))
    assert files, "the SDSS g-band sample must be present"
    assert main(["inspect", "--json", *files]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == len(files)
    for record in records:
        assert set(record) >= {"path", "format", "shape", "dtype", "bands", "hdus", "wcs", "nan_count"}
        assert record["format"] == "fits" and record["shape"][0] == 455 and record["shape"][1] >= 454
        assert record["hdus"] >= 1 and isinstance(record["wcs"]["ra"], float)


def test_inspect_of_a_jpeg_has_no_wcs_and_no_hdus(samples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jpeg = next(iter(sorted(samples.rglob("*.jp*g"))))
    assert main(["inspect", "--json", str(jpeg)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["format"] == "jpeg" and record["wcs"] is None and record["hdus"] is None
    assert record["bands"] == ["R", "G", "B"] and record["nan_count"] == 0


def test_a_bad_file_is_one_clear_line_and_the_rest_still_print(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(good)
    bad = tmp_path / "truncated.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    assert main(["inspect", "--json", str(bad), str(good)]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["shape"] == [4, 5, 1]
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("galaxy-studio: error: ") and "truncated.fits" in line
    assert "Traceback" not in captured.err


def test_render_writes_the_stretched_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = np.zeros((40, 60), np.float32)
    data[20, 30] = 1000.0
    data[10:30, 20:40] += 5.0
    src = tmp_path / "g.fits"
    fits.PrimaryHDU(data).writeto(src)
    linear, asinh = tmp_path / "linear.png", tmp_path / "asinh.png"
    assert main(["render", str(src), "--stretch", "linear", "--interval", "minmax", "--out", str(linear)]) == 0
    assert main(["render", str(src), "--stretch", "asinh", "--interval", "zscale", "--out", str(asinh)]) == 0
    a, b = np.asarray(Image.open(linear)), np.asarray(Image.open(asinh))
    assert a.shape == b.shape == (40, 60, 3)
    assert a[19, 30, 0] == 255, "FITS is drawn with its first row at the bottom"
    assert a[15, 25, 0] <= 2, "linear min-max hides the faint square"
    assert b[15, 25, 0] > 100, "asinh/zscale shows it"


def test_render_to_an_unwritable_place_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "g.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src)
    assert main(["render", str(src), "--out", str(tmp_path / "missing" / "out.png")]) == 1
    assert "cannot write image" in capsys.readouterr().err


def test_demo_data_writes_a_folder_per_class(tmp_path: Path) -> None:
    assert main(["demo-data", str(tmp_path / "demo"), "--per-class", "2", "--size", "32", "--format", "fits"]) == 0
    folders = sorted(p for p in (tmp_path / "demo").iterdir() if p.is_dir())
    assert len(folders) == 10
    assert all(len(list(f.glob("*.fits"))) == 2 for f in folders)


def test_errors_exit_non_zero_without_traceback(tmp_path: Path) -> None:
    result = run_cli("inspect", str(tmp_path / "nope.fits"))
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "nope.fits" in result.stderr
    assert "Traceback" not in result.stderr


def test_screenshot_of_the_demo_shows_the_window(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    result = run_cli("--screenshot", str(out), "--demo")
    assert result.returncode == 0, result.stderr[-2000:]
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image.std() > 10, "the grab shows content, not a blank window"


def test_screenshot_of_another_panel_with_the_demo_does_not_wait_for_hidden_thumbnails(tmp_path: Path) -> None:
    """The demo opens in the Library; a panel that hides it is grabbed once the demo is open."""
    out = tmp_path / "classify.png"
    result = run_cli("--screenshot", str(out), "--panel", "classify", "--demo")
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.stat().st_size > 0


def test_panel_option_opens_a_tab_and_is_offered_for_the_screenshot() -> None:
    from galaxy_studio.cli import build_parser

    args = build_parser().parse_args(["--screenshot", "out.png", "--panel", "distill", "--demo"])
    assert (args.panel, args.demo, args.screenshot) == ("distill", True, "out.png")
    assert build_parser().parse_args([]).panel == "library"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--panel", "nowhere"])


def _parsed(*argv: str):  # noqa: ANN202 - argparse.Namespace
    from galaxy_studio.cli import build_parser

    return build_parser().parse_args(list(argv))


def test_train_options_are_generated_from_the_config_and_build_it() -> None:
    from galaxy_studio.cli.options import config_from_args
    from galaxy_studio.model.config import TrainConfig

    nothing = config_from_args(TrainConfig, _parsed("train", "d"), data="d", out_dir="o")
    assert nothing == TrainConfig(data="d", out_dir="o"), "an option not given leaves the config's default"
    args = _parsed(
        "train",
        "d",
        "--crop",
        "0.25",
        "--pretrained",
        "w.pth",
        "--backbone-lr-scale",
        "0.2",
        "--no-augment",
        "--amp",
        "--patience",
        "0",
        "--ema",
        "0",
        "--bands",
        "g, r,z",
        "--arch",
        "vgg11",
        "--lr",
        "0.001",
        "--epochs",
        "7",
    )
    config = config_from_args(TrainConfig, args, data="d", out_dir="o")
    assert (config.crop_fraction, config.augment, config.amp) == (0.25, False, True)
    assert config.pretrained == os.path.abspath("w.pth"), "recorded in full, to be found from any folder"
    assert config.backbone_lr_scale == 0.2
    assert (config.patience, config.ema, config.bands) == (None, None, ("g", "r", "z")), "0 stands for None"
    assert (config.arch, config.lr, config.epochs) == ("vgg11", 0.001, 7)
    assert config_from_args(TrainConfig, _parsed("train", "d", "--augment"), data="d", out_dir="o").augment


def test_generated_choices_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parsed("distill", "b", "d", "--out", "r", "--memory", "some")
    assert "argument --memory: invalid choice: 'some'" in capsys.readouterr().err
    args = _parsed("distill", "b", "d", "--out", "r", "--no-clamp", "--batch-syn", "4", "--memory", "constant")
    assert (args.clamp, args.batch_syn, args.memory) == (False, 4, "constant")


def test_a_value_outside_its_range_is_one_line_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "run"), "--crop", "1.5"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "galaxy-studio: error: crop_fraction must be between 0.01 and 1, got 1.5; set --crop between 0.01 and 1"
    )
    assert not (tmp_path / "run").exists(), "refused before anything was written"
    assert main(["evaluate-synthetic", str(tmp_path), "--seed", "-3"]) == 1
    assert "set --seed at least 0" in capsys.readouterr().err


def test_help_shows_every_declared_setting_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    from galaxy_studio.cli import build_parser
    from galaxy_studio.distill.config import EvaluationProtocol
    from galaxy_studio.settings import settings_of

    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate-synthetic", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for setting in settings_of(EvaluationProtocol).values():
        assert setting.flag in text
    assert "--nets NETS fresh networks per training set (MTT: 5) (default 5)" in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["buffer", "--help"])
    assert "--zca, --no-zca" in capsys.readouterr().out
