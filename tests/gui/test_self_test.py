"""`galaxy-studio --self-test`: passes in a working tree, and any failing check fails it."""

from __future__ import annotations

import pytest

from galaxy_studio import cli, self_test

CHECK_NAMES = ["torch", "autograd", "torchvision.ops.nms", "fits", "clusters", "window"]


def result_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("PASS ", "FAIL "))]


def test_self_test_passes_in_the_source_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--self-test"]) == 0
    out = capsys.readouterr().out
    lines = result_lines(out)
    assert [line.split()[1].rstrip(":") for line in lines] == CHECK_NAMES
    assert all(line.startswith("PASS ") for line in lines), out
    assert "kept boxes [0, 2] of 3" in out
    assert "sample-galaxy.fits 128x128, centre RA 210.9" in out
    assert "two blobs: kmeans 1.00, spectral 1.00" in out
    assert out.rstrip().endswith("self-test passed: all 6 checks")


def test_a_failing_check_gives_a_non_zero_exit_and_the_rest_still_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing_operator() -> str:
        raise RuntimeError("operator torchvision::nms does not exist")

    checks = tuple(
        (name, missing_operator if name == "torchvision.ops.nms" else check)
        for name, check in self_test.CHECKS
        if name != "window"
    )
    monkeypatch.setattr(self_test, "CHECKS", checks)
    assert cli.main(["--self-test"]) == 1
    out = capsys.readouterr().out
    lines = result_lines(out)
    assert lines[2] == "FAIL torchvision.ops.nms: RuntimeError: operator torchvision::nms does not exist"
    assert [line[:4] for line in lines] == ["PASS", "PASS", "FAIL", "PASS", "PASS"]
    assert out.rstrip().endswith("self-test failed: 1 of 5 checks (torchvision.ops.nms)")


def test_a_missing_bundled_fits_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(self_test, "SAMPLE_FITS", "not-bundled.fits")
    [result] = self_test.run_checks((("fits", self_test.check_fits),))
    assert not result.passed
    assert "not-bundled.fits" in result.detail and "not found" in result.detail


def test_a_wrong_result_is_a_failure_not_a_pass() -> None:
    def flat() -> str:
        raise self_test.CheckFailed("rendered image is nearly flat (values 0..3)")

    [result] = self_test.run_checks((("fits", flat),))
    assert result.line() == "FAIL fits: CheckFailed: rendered image is nearly flat (values 0..3)"
