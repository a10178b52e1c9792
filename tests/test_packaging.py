"""The install recipe stays in step with the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_in_the_tree_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "galaxy_studio").rglob("__init__.py")
    } | {"galaxy_studio.resources"}
    assert listed == found


def test_resources_are_reachable_through_the_package() -> None:
    from galaxy_studio.resources import resource_path

    icon = resource_path("galaxy-studio.png")
    assert icon.is_file() and icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_icons_exist_as_svg_png_ico_and_icns_and_are_real_pictures() -> None:
    import xml.etree.ElementTree as ElementTree

    import numpy as np
    from PIL import Image

    resources = ROOT / "resources"
    assert ElementTree.parse(resources / "galaxy-studio.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    with Image.open(resources / "galaxy-studio.png") as png:
        assert png.format == "PNG" and png.size == (256, 256)
    with Image.open(resources / "galaxy-studio.ico") as ico:
        assert ico.format == "ICO"
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
        ico.size = (16, 16)
        small = np.asarray(ico.convert("RGBA"))
        assert small.shape == (16, 16, 4)
    with Image.open(resources / "galaxy-studio.icns") as icns:
        assert icns.format == "ICNS"
        assert (512, 512, 2) in icns.info["sizes"] and (16, 16, 2) in icns.info["sizes"]
        assert icns.size == (1024, 1024)  # the largest (512 pt at 2x) opens by default
        large = np.asarray(icns.convert("RGBA"))
        assert large.shape == (1024, 1024, 4)
    for pixels in (small, large):
        assert pixels[..., 3].min() == 0 and pixels[..., 3].max() == 255  # rounded corners, opaque body
        assert pixels[..., :3].std() > 20  # a picture, not a flat square


def test_desktop_entry_launches_the_app_with_its_icon_for_fits_files() -> None:
    import configparser

    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(ROOT / "resources" / "galaxy-studio.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"].split() == ["galaxy-studio", "open", "%F"]
    assert desktop["Icon"] == "galaxy-studio"
    assert "image/fits" in desktop["MimeType"].split(";")


def test_fits_mime_type_covers_every_fits_file_ending() -> None:
    import xml.etree.ElementTree as ElementTree

    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ElementTree.parse(ROOT / "resources" / "galaxy-studio-mime.xml").getroot()
    [mime] = root.findall("m:mime-type", ns)
    assert mime.get("type") == "image/fits"
    globs = {glob.get("pattern") for glob in mime.findall("m:glob", ns)}
    assert {"*.fits", "*.fit", "*.fts", "*.fits.gz"} <= globs


def test_torchvision_hook_collects_every_compiled_operator_library() -> None:
    pytest.importorskip("PyInstaller")
    import runpy

    import torchvision

    hook = runpy.run_path(str(ROOT / "packaging" / "hooks" / "hook-torchvision.py"))
    package = Path(torchvision.__file__).parent
    collected = {Path(source).name: destination for source, destination in hook["binaries"]}
    for library in package.glob("*.so"):
        assert collected[library.name] == "torchvision"
    assert {"_C_stable.so", "image_stable.so"} <= set(collected)
    assert hook["module_collection_mode"] == "pyz+py"


def test_every_resource_file_is_installed_with_the_package() -> None:
    """A resource missing from package-data works from the source tree and breaks installs
    (the self-test's FITS, the icons)."""
    from fnmatch import fnmatch

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "galaxy_studio.resources"
    ]
    shipped = [path.name for path in (ROOT / "resources").iterdir() if path.is_file()]
    left_out = [
        name
        for name in shipped
        if name not in ("__init__.py", "README.md") and not any(fnmatch(name, p) for p in patterns)
    ]
    assert "sample-galaxy.fits" in shipped and left_out == []
