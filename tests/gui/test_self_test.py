"""`galaxy-studio --self-test`: passes in a working tree, and any failing check fails it; the
platform check names each system library the app's real window platform lacks."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from galaxy_studio import cli, self_test
from galaxy_studio.gui.platform_plugins import platform_plugin_dirs

ROOT = Path(__file__).resolve().parents[2]
CHECK_NAMES = ["torch", "autograd", "torchvision.ops.nms", "fits", "clusters", "platform", "window"]


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
    assert "PASS platform: offscreen platform plugin libqoffscreen.so loads" in out
    assert out.rstrip().endswith("self-test passed: all 7 checks")


def test_a_failing_check_gives_a_non_zero_exit_and_the_rest_still_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing_operator() -> str:
        raise RuntimeError("operator torchvision::nms does not exist")

    checks = tuple(
        (name, missing_operator if name == "torchvision.ops.nms" else check)
        for name, check in self_test.CHECKS
        if name not in ("platform", "window")
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


XCB_LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /site-packages/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f6)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f5)
"""
CURSOR_MISSING = "libxcb-cursor.so.0: cannot open shared object file: No such file or directory"


@pytest.fixture
def x11_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a user's X session: Qt will use xcb."""
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM_PLUGIN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":0")


def fake_loader(monkeypatch: pytest.MonkeyPatch, failing: dict[str, str]) -> list[str]:
    """Replaces the dynamic loader: plugins named in `failing` raise its message; returns the
    names of the plugins it was asked to load."""
    loaded: list[str] = []

    def load(library: Path) -> None:
        loaded.append(library.name)
        if library.name in failing:
            raise OSError(failing[library.name])

    monkeypatch.setattr(self_test, "load_library", load)
    return loaded


def platform_result() -> self_test.CheckResult:
    [result] = self_test.run_checks((("platform", self_test.check_platform),))
    return result


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libEGL.so.1", "libegl1"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
        ("libwayland-cursor.so.0", "libwayland-cursor0"),
    ],
)
def test_a_library_is_named_with_its_debian_package(soname: str, package: str) -> None:
    assert self_test.debian_package(soname) == package


def test_every_library_ldd_cannot_find_is_listed_once() -> None:
    assert self_test.libraries_not_found(XCB_LDD) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]


@pytest.mark.usefixtures("x11_display")
def test_with_a_display_a_missing_xcb_library_fails_the_check_and_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = fake_loader(monkeypatch, {"libqxcb.so": CURSOR_MISSING})
    monkeypatch.setattr(self_test, "run_ldd", lambda library: XCB_LDD)
    result = platform_result()
    assert loaded == ["libqxcb.so"]
    assert not result.passed
    assert result.detail == (
        "CheckFailed: the app cannot open its window (DISPLAY=:0): xcb: "
        "missing library libxcb-cursor.so.0 (Debian/Ubuntu package libxcb-cursor0), "
        "missing library libxcb-icccm.so.4 (Debian/Ubuntu package libxcb-icccm4); "
        "install with: sudo apt-get install libxcb-cursor0 libxcb-icccm4"
    )


@pytest.mark.usefixtures("x11_display")
def test_without_ldd_the_library_the_loader_names_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_loader(monkeypatch, {"libqxcb.so": CURSOR_MISSING})
    monkeypatch.setattr(self_test, "run_ldd", lambda library: "")
    result = platform_result()
    assert not result.passed
    assert "missing library libxcb-cursor.so.0 (Debian/Ubuntu package libxcb-cursor0)" in result.detail


@pytest.mark.usefixtures("x11_display")
def test_with_a_display_the_check_passes_when_the_xcb_plugin_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = fake_loader(monkeypatch, {})
    result = platform_result()
    assert loaded == ["libqxcb.so"]
    assert result.line() == "PASS platform: xcb platform plugin libqxcb.so loads with its system libraries (DISPLAY=:0)"


@pytest.mark.usefixtures("x11_display")
def test_a_wayland_session_falls_back_to_xcb_as_qt_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    missing = "libwayland-cursor.so.0: cannot open shared object file: No such file or directory"
    loaded = fake_loader(monkeypatch, {"libqwayland.so": missing})
    monkeypatch.setattr(self_test, "run_ldd", lambda library: "")
    result = platform_result()
    assert loaded == ["libqwayland.so", "libqxcb.so"]
    assert result.passed
    assert result.detail.endswith(
        "wayland: missing library libwayland-cursor.so.0 (Debian/Ubuntu package libwayland-cursor0), "
        "so Qt falls back to xcb)"
    )


@pytest.mark.usefixtures("x11_display")
def test_a_platform_chosen_by_qt_qpa_platform_is_the_one_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    result = platform_result()
    assert result.line() == (
        "PASS platform: offscreen platform plugin libqoffscreen.so loads with its system libraries "
        "(QT_QPA_PLATFORM=offscreen)"
    )


@pytest.mark.usefixtures("x11_display")
def test_without_a_display_there_is_no_window_system_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY")
    loaded = fake_loader(monkeypatch, {})
    result = platform_result()
    assert loaded == []
    assert result.passed and result.detail.startswith("no DISPLAY or WAYLAND_DISPLAY: no window system to check")


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("cc") is None, reason="needs Linux and cc")
@pytest.mark.usefixtures("x11_display")
def test_a_real_plugin_whose_library_is_gone_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No fakes: a plugin built here against a library that is then deleted, loaded for real."""
    (tmp_path / "stub.c").write_text("int galaxy_stub(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text("int galaxy_stub(void);\nint plugin(void) { return galaxy_stub(); }\n")
    compile_ = ["cc", "-shared", "-fPIC", "-o"]
    subprocess.run(
        [*compile_, "libgalaxystub.so.3", "-Wl,-soname,libgalaxystub.so.3", "stub.c"], cwd=tmp_path, check=True
    )
    subprocess.run([*compile_, "libqxcb.so", "plugin.c", "libgalaxystub.so.3"], cwd=tmp_path, check=True)
    (tmp_path / "libgalaxystub.so.3").unlink()
    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", str(tmp_path))
    result = platform_result()
    assert not result.passed
    assert "xcb: missing library libgalaxystub.so.3 (Debian/Ubuntu package libgalaxystub3)" in result.detail


def documented_system_packages(document: str) -> set[str]:
    """The packages of the install-from-source apt-get line in the README or the install page."""
    command = re.search(r"sudo apt-get install ((?:[^\n]*\\\n)*[^\n]*)", (ROOT / document).read_text())
    assert command, f"no apt-get line in {document}"
    return set(command.group(1).replace("\\\n", " ").split())


def deb_depends() -> set[str]:
    [depends] = re.findall(r'DEPENDS="([^"]*)"', (ROOT / "packaging" / "linux" / "build_deb.sh").read_text())
    return {alternative.split("(")[0].strip() for clause in depends.split(",") for alternative in clause.split("|")}


@pytest.mark.skipif(shutil.which("ldd") is None, reason="needs ldd")
def test_the_readme_the_install_page_and_the_deb_list_every_x_library_the_xcb_plugin_loads() -> None:
    [plugin] = [folder / "libqxcb.so" for folder in platform_plugin_dirs() if (folder / "libqxcb.so").exists()]
    sonames = re.findall(
        r"^\s*(\S+) => ", subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout, re.M
    )
    needed = {self_test.debian_package(name) for name in sonames if re.match(r"lib(xcb|X11|xkbcommon)", name)}
    assert {"libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0"} <= needed
    for document in ("README.md", "docs/install.md"):
        listed = documented_system_packages(document)
        assert needed <= listed, f"missing from {document}: {sorted(needed - listed)}"
        assert listed <= deb_depends(), f"missing from the .deb's Depends: {sorted(listed - deb_depends())}"


@pytest.mark.usefixtures("x11_display")
def test_the_window_check_fails_instead_of_qt_aborting_on_a_chosen_plugin_that_cannot_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    fake_loader(monkeypatch, {"libqxcb.so": CURSOR_MISSING})
    monkeypatch.setattr(self_test, "run_ldd", lambda library: "")
    [result] = self_test.run_checks((("window", self_test.check_window),))
    assert not result.passed
    assert "missing library libxcb-cursor.so.0 (Debian/Ubuntu package libxcb-cursor0)" in result.detail
