"""Shared fixtures: an isolated GALAXY_STUDIO_HOME for every test, Qt offscreen, and one small
labelled demo set with one classifier trained on it once per session (model, classification
and GUI tests share them; torch is imported only when a test asks for the classifier)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import galaxy_studio
from galaxy_studio.data.synthetic import write_demo_set

if TYPE_CHECKING:
    from galaxy_studio.model.config import TrainConfig
    from galaxy_studio.model.training import TrainResult

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The SAMP hub fixtures (lockfile, hub) serve the core's and the window's SAMP tests alike.
pytest_plugins = ["tests.data.samp_hub"]

SAMPLES = Path(__file__).parent / "data" / "samples"
RESOURCES_INIT = Path(__file__).resolve().parent.parent / "resources" / "__init__.py"


def _bind_resources_to_this_checkout() -> None:
    """resources/ installs as galaxy_studio.resources through a package-dir mapping, so an
    editable install made from another checkout maps it to that checkout's folder, and a tree
    used from PYTHONPATH has none; the tests of this tree must read this tree's resources."""
    try:
        import galaxy_studio.resources as found
    except ModuleNotFoundError:  # the package is on PYTHONPATH rather than installed
        found = None
    if found is not None and Path(found.__file__).resolve() == RESOURCES_INIT:
        return
    spec = importlib.util.spec_from_file_location(
        "galaxy_studio.resources", RESOURCES_INIT, submodule_search_locations=[str(RESOURCES_INIT.parent)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["galaxy_studio.resources"] = module
    spec.loader.exec_module(module)
    galaxy_studio.resources = module  # type: ignore[attr-defined]


_bind_resources_to_this_checkout()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every user location at a temporary folder so no test touches real settings."""
    home = tmp_path / "gs-home"
    monkeypatch.setenv("GALAXY_STUDIO_HOME", str(home))
    # A fixed thread count (galaxy_studio/cpu_share.py): two runs compared bit for bit must not
    # follow the other programs on a busy machine into different counts. test_cpu_share.py
    # lifts it to test the sharing itself.
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))
    return home


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the test, then as before. On a busy two-core machine a second
    OpenMP thread mostly spins against other processes: tiny batches and timing comparisons
    stall for longer than the work they measure (occlusion's check: 55 s against 3 s)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def samples() -> Path:
    """Small real files copied from the shared data set (see tests/data/README.md)."""
    return SAMPLES


# Three demo classes that differ in shape rather than in subtle detail, so a tiny network
# trained for seconds separates them well above the 1/3 of guessing.
DEMO_CLASSES = ("Round Smooth", "Edge-on without Bulge", "Unbarred Loose Spiral")
DEMO_PER_CLASS = 30
DEMO_SIZE = 40


def tiny_config(data: Path, out: Path, **changes: object) -> TrainConfig:
    """A recipe that trains in a few seconds on two CPU cores."""
    from galaxy_studio.model.config import TrainConfig

    settings: dict[str, object] = {
        "size": 32,
        "epochs": 12,
        "batch_size": 16,
        "lr": 3e-3,
        "crop_fraction": 1.0,
        "width": 16,
        "device": "cpu",
        "threads": 2,
    }
    settings.update(changes)
    return TrainConfig(data=str(data), out_dir=str(out), **settings)  # type: ignore[arg-type]


def write_demo_classes(root: Path, classes: tuple[str, ...], *, per_class: int, size: int, seed: int) -> Path:
    """Procedural galaxies of `classes` only, a folder per class, under `root`."""
    write_demo_set(root, per_class=per_class, size=size, seed=seed)
    for folder in root.iterdir():
        if folder.is_dir() and folder.name not in classes:
            shutil.rmtree(folder)
    return root


@pytest.fixture(scope="session")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Procedural galaxies of three classes, a folder per class (90 JPEGs of 40 px)."""
    return write_demo_classes(
        tmp_path_factory.mktemp("demo"), DEMO_CLASSES, per_class=DEMO_PER_CLASS, size=DEMO_SIZE, seed=3
    )


@pytest.fixture(scope="session")
def trained_run(demo_set: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    import torch

    from galaxy_studio.model.training import train_classifier

    torch.set_num_threads(2)
    return train_classifier(tiny_config(demo_set, tmp_path_factory.mktemp("runs") / "tiny"))
