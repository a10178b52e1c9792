"""`galaxy-studio --self-test`: proves that an installed copy has every piece it needs.

A packaged bundle fails in ways the source tree never does: a shared library the freezer did
not see (torchvision's operators), a resource file left out, a Qt plugin missing. Each check
here exercises one of those for real and reports one line, so an installer test (and a user
with a broken install) sees at once what is wrong. Qt and torch are imported inside the
checks, so importing this module stays GUI-free and cheap.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_FITS = "sample-galaxy.fits"

# Libraries whose Debian/Ubuntu package is not named after the soname (see debian_package).
DEBIAN_PACKAGES = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
    "libGLdispatch.so.0": "libglvnd0",
    "libbrotlicommon.so.1": "libbrotli1",
    "libbrotlidec.so.1": "libbrotli1",
    "libgcc_s.so.1": "libgcc-s1",
    "libz.so.1": "zlib1g",
}


class CheckFailed(Exception):
    """A check ran but found a wrong result (as opposed to crashing)."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def check_torch() -> str:
    import torch
    import torchvision

    if torch.cuda.is_available():
        device = f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}"
    elif torch.version.cuda:
        device = f"CUDA {torch.version.cuda} build, no GPU found: CPU"
    else:
        device = "CPU build"
    return f"torch {torch.__version__}, torchvision {torchvision.__version__} ({device})"


def check_autograd() -> str:
    """A convolution, a linear layer and one optimiser step: the pieces training uses."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    images, labels = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 0, 1])
    optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
    before = torch.nn.functional.cross_entropy(net(images), labels)
    optimiser.zero_grad()
    before.backward()
    gradient = sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None)
    if not gradient > 0 or gradient != gradient:
        raise CheckFailed(f"gradient is {gradient}")
    optimiser.step()
    with torch.no_grad():
        after = float(torch.nn.functional.cross_entropy(net(images), labels))
    return f"loss {before.item():.4f} -> {after:.4f} after one step, |grad| {gradient:.3g}"


def check_nms() -> str:
    """torchvision's compiled operators load (a bundle that misses _C_stable.so fails here)."""
    import torch
    from torchvision.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    kept = nms(boxes, scores, iou_threshold=0.5).tolist()
    if kept != [0, 2]:
        raise CheckFailed(f"kept boxes {kept}, expected [0, 2]")
    return "kept boxes [0, 2] of 3"


def check_fits() -> str:
    """Reads the bundled FITS with its WCS and renders it the way the viewer does."""
    from galaxy_studio.data.display import default_settings, render_rgb
    from galaxy_studio.data.formats import read_cutout
    from galaxy_studio.resources import resource_path

    path = resource_path(SAMPLE_FITS)
    cutout = read_cutout(str(path))
    rgb = render_rgb(cutout, default_settings(cutout))
    if rgb.shape[:2] != cutout.data.shape[:2] or rgb.dtype.name != "uint8":
        raise CheckFailed(f"rendered {rgb.shape} {rgb.dtype} from a {cutout.data.shape} image")
    if int(rgb.max()) - int(rgb.min()) < 100:
        raise CheckFailed(f"rendered image is nearly flat (values {rgb.min()}..{rgb.max()})")
    centre = cutout.centre_sky_position()
    if centre is None:
        raise CheckFailed(f"{path}: no celestial WCS read")
    shape = "x".join(str(n) for n in cutout.data.shape[:2])
    return f"{path.name} {shape}, centre RA {centre[0]:.4f} Dec {centre[1]:.4f}, rendered {rgb.min()}..{rgb.max()}"


def check_clusters() -> str:
    """scikit-learn and scipy load and run in the bundle (their compiled parts are collected by
    hooks, and Explore imports them only when it clusters): two separated blobs, both methods."""
    import numpy as np

    from galaxy_studio.explore.clustering import CLUSTER_METHODS, cluster_embeddings, score_clusters

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    vectors = (rng.normal(size=(80, 8)) + 6.0 * labels[:, None]).astype(np.float32)
    scores = []
    for method in CLUSTER_METHODS:
        accuracy = score_clusters(cluster_embeddings(vectors, 2, method), labels).accuracy
        if accuracy < 0.99:
            raise CheckFailed(f"{method} found two separated blobs with accuracy {accuracy:.2f}")
        scores.append(f"{method} {accuracy:.2f}")
    return "two blobs: " + ", ".join(scores)


def debian_package(soname: str) -> str:
    """The package to install for a missing library: Debian names a library's package after its
    soname (libxcb-cursor.so.0 -> libxcb-cursor0, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    stem, _, version = soname.partition(".so.")
    stem = stem.lower()
    if not version:
        return stem
    return f"{stem}{'-' if stem[-1].isdigit() else ''}{version.split('.')[0]}"


def qt_platforms() -> tuple[list[str], str]:
    """The platform plugins Qt will try for the app's window, in Qt's order, and what chose them.

    QT_QPA_PLATFORM decides when set (a ';' list, each name may carry ':options'); otherwise
    Qt takes xcb, or Wayland first in a Wayland session with xcb as its fallback. Without a
    display there is no window system, and nothing to check."""
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return [entry.split(":")[0] for entry in chosen.split(";") if entry], f"QT_QPA_PLATFORM={chosen}"
    displays = [f"{name}={os.environ[name]}" for name in ("DISPLAY", "WAYLAND_DISPLAY") if os.environ.get(name)]
    if not displays:
        return [], "no DISPLAY or WAYLAND_DISPLAY"
    if os.environ.get("XDG_SESSION_TYPE") == "wayland":
        return ["wayland", "xcb"], ", ".join(["XDG_SESSION_TYPE=wayland", *displays])
    return ["xcb"], ", ".join(displays)


def platform_plugin_file(platform: str) -> str:
    """libqxcb.so for xcb; the Wayland variants (wayland-egl, ...) share libqwayland.so."""
    return f"libq{platform.split('-')[0]}.so"


def run_ldd(library: Path) -> str:
    """ldd's report for a library ('' where there is no ldd): it lists every missing dependency,
    where the dynamic loader stops at the first."""
    try:
        return subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def libraries_not_found(ldd_output: str) -> list[str]:
    names: list[str] = []
    for line in ldd_output.splitlines():
        name, arrow, where = line.strip().partition(" => ")
        if arrow and where.strip() == "not found" and name not in names:
            names.append(name)
    return names


def load_library(library: Path) -> None:
    """Loads a shared library as Qt will: failing here raises OSError, where Qt aborts the app."""
    ctypes.CDLL(str(library))


def missing_libraries(plugin: Path) -> list[str]:
    """The system libraries that keep a plugin from loading ([] when it loads); raises the
    loader's OSError when it fails for another reason."""
    try:
        load_library(plugin)
    except OSError as error:
        named = re.match(r"(\S+?): cannot open shared object file", str(error))
        missing = libraries_not_found(run_ldd(plugin)) or ([named.group(1)] if named else [])
        if not missing:
            raise
        return missing
    return []


def check_platform() -> str:
    """The window check runs offscreen; this one loads the platform plugin the app itself will
    use (xcb under X11), because a missing system library makes Qt abort the app with a message
    that names no package to install."""
    if not sys.platform.startswith("linux"):
        return f"{sys.platform}: Qt's platform plugins need no system libraries to check"
    platforms, why = qt_platforms()
    if not platforms:
        return f"{why}: no window system to check (the window check runs offscreen)"
    from galaxy_studio.gui.platform_plugins import platform_plugin_dirs

    dirs = platform_plugin_dirs()
    failures: list[str] = []
    packages: list[str] = []
    for platform in platforms:
        file = platform_plugin_file(platform)
        plugin = next((folder / file for folder in dirs if (folder / file).is_file()), None)
        if plugin is None:
            failures.append(f"{platform}: no {file} in {', '.join(str(folder) for folder in dirs)}")
            continue
        try:
            missing = missing_libraries(plugin)
        except OSError as error:
            failures.append(f"{platform}: {file} does not load: {error}")
            continue
        if not missing:
            fallback = f"; {'; '.join(failures)}, so Qt falls back to {platform}" if failures else ""
            return f"{platform} platform plugin {file} loads with its system libraries ({why}{fallback})"
        failures.append(
            f"{platform}: "
            + ", ".join(f"missing library {name} (Debian/Ubuntu package {debian_package(name)})" for name in missing)
        )
        packages += [package for package in map(debian_package, missing) if package not in packages]
    install = f"; install with: sudo apt-get install {' '.join(packages)}" if packages else ""
    raise CheckFailed(f"the app cannot open its window ({why}): {'; '.join(failures)}{install}")


def check_window() -> str:
    """Opens the main window offscreen (unless a platform is chosen) and closes it again."""
    if os.environ.get("QT_QPA_PLATFORM"):
        # Qt aborts the whole process on a chosen plugin that does not load: fail this check instead.
        check_platform()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from galaxy_studio.gui.app import application
    from galaxy_studio.gui.main_window import MainWindow

    app = application()
    window = MainWindow()
    window.resize(800, 600)
    window.show()
    app.processEvents()
    if not window.isVisible():
        raise CheckFailed("the main window did not show")
    image = window.grab().toImage()
    size = f"{image.width()}x{image.height()}"
    if image.isNull() or image.width() < 100:
        raise CheckFailed(f"grab of the window is {size}")
    window.close()
    app.processEvents()
    if window.isVisible():
        raise CheckFailed("the main window did not close")
    return f"{app.platformName()} platform, window {size} shown and closed"


CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("torch", check_torch),
    ("autograd", check_autograd),
    ("torchvision.ops.nms", check_nms),
    ("fits", check_fits),
    ("clusters", check_clusters),
    ("platform", check_platform),
    ("window", check_window),
)


def run_checks(
    checks: Sequence[tuple[str, Callable[[], str]]] | None = None,
    report: Callable[[CheckResult], None] = lambda result: None,
) -> list[CheckResult]:
    """Runs every check (default: CHECKS) even after one fails, so one run lists all that is broken."""
    results = []
    for name, check in CHECKS if checks is None else checks:
        try:
            result = CheckResult(name, True, check())
        except Exception as error:  # noqa: BLE001 - any failure of a check is its result
            result = CheckResult(name, False, f"{type(error).__name__}: {error}")
        report(result)
        results.append(result)
    return results


def self_test() -> int:
    """Prints one line per check and where the app runs from; 0 only if every check passed."""
    where = f"bundle {sys._MEIPASS}" if getattr(sys, "frozen", False) else f"source {sys.executable}"  # type: ignore[attr-defined]
    print(f"galaxy-studio self-test ({where})", flush=True)
    results = run_checks(report=lambda result: print(result.line(), flush=True))
    failed = [result.name for result in results if not result.passed]
    if failed:
        print(f"self-test failed: {len(failed)} of {len(results)} checks ({', '.join(failed)})", flush=True)
    else:
        print(f"self-test passed: all {len(results)} checks", flush=True)
    return 1 if failed else 0
