"""Galaxy Studio from Python: a notebook or a script opens a project, reads cutouts, trains,
classifies, distils and evaluates with the same jobs the app and the command line run, and
gets results back instead of printed text.

    import galaxy_studio.api as gs

    data = gs.demo_data("demo", per_class=20, size=40, classes=["Round Smooth", "Edge-on without Bulge"])
    run = gs.train(data, "runs/tiny", epochs=4, size=32, width=16, device="cpu")
    table = gs.classify(run, data / "Round Smooth")          # an astropy Table, a row per cutout
    gs.show_saliency(run, table["path"][0])                  # a matplotlib Figure
    buffer = gs.train_experts(data, "buffers/tiny", experts=2, epochs=3, size=32, width=16)
    synthetic = gs.distill(buffer, data, "distilled/tiny", iterations=20)
    gs.show_prototypes(synthetic)

Every job takes `progress=True`: its progress shows as tqdm.auto bars (widgets in Jupyter when
ipywidgets is installed, text bars elsewhere), the same events the command line draws. A job's
warnings come as Python warnings of the category `JobWarning`, so that they show once in a
notebook and can be filtered or turned into errors; its notes are printed with the bars.
Settings are the keyword arguments of the job's config (TrainConfig, BufferConfig,
DistillConfig, EvaluationProtocol), checked as the command line checks them; a wrong one
raises a UserError that says which and why.

Nothing here imports Qt. Results are the cores' own frozen dataclasses (TrainResult,
BufferResult, DistillResult) or plain dicts and tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxy_studio.api.pictures import show_curves, show_cutout, show_prototypes, show_saliency
from galaxy_studio.api.progress import JobWarning, job_events
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.formats import read_cutout as _read_cutout

if TYPE_CHECKING:
    from astropy.table import Table

    from galaxy_studio.distill.experts import BufferResult
    from galaxy_studio.distill.runner import DistillResult
    from galaxy_studio.labels.store import Project
    from galaxy_studio.model.training import TrainResult

__all__ = [
    "JobWarning",
    "classify",
    "demo_data",
    "distill",
    "evaluate",
    "evaluate_synthetic",
    "explain",
    "open_project",
    "read_cutout",
    "show_curves",
    "show_cutout",
    "show_prototypes",
    "show_saliency",
    "train",
    "train_experts",
]

PathLike = str | Path


def demo_data(
    folder: PathLike,
    *,
    per_class: int = 30,
    size: int = 64,
    classes: Sequence[str] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Procedural demo galaxies (JPEG), a sub-folder per class, in `folder`; returns it. `classes`
    keeps some of the ten Galaxy10 classes (all by default). An image depends only on (seed, class,
    index), so a smaller set is a subset of a larger one."""
    from galaxy_studio.data.synthetic import write_demo_set

    with job_events(progress) as emit:
        write_demo_set(Path(folder), per_class=per_class, size=size, seed=seed, classes=classes, emit=emit)
    return Path(folder)


def open_project(path: PathLike, *, read_only: bool = True) -> Project:
    """A labelling project (*.gsproj), read-only unless asked, so that a notebook reading labels
    never changes what the app is editing. Use it in a `with` block, or call `close()`."""
    from galaxy_studio.labels.store import Project

    return Project.open(Path(path), read_only=read_only)


def read_cutout(path: PathLike, *, hdu: int | str | None = None, plane: int | None = None) -> Cutout:
    """A cutout of any supported format: `.data` float32 (H, W, bands) in the file's units,
    `.bands`, `.header` (FITS header or None) and `.wcs` (celestial astropy WCS or None). `hdu` and
    `plane` pick an image HDU and a plane of a cube (FITS only)."""
    return _read_cutout(path, hdu=hdu, plane=plane)


def train(data: PathLike, out: PathLike, *, progress: bool = True, **settings: Any) -> TrainResult:
    """Train a classifier on labelled `data` (a project, a folder per class, a CSV or a Galaxy10
    file) into the run folder `out`; `settings` are TrainConfig's (epochs, size, arch, width, lr,
    device, ...). Running it again on the same folder resumes an interrupted run. The result holds
    the test metrics, the per-epoch history and the checkpoint's path."""
    from galaxy_studio.model.config import TrainConfig
    from galaxy_studio.model.training import train_classifier

    config = TrainConfig(data=str(data), out_dir=str(out), **settings)
    with job_events(progress) as emit:
        return train_classifier(config, emit=emit)


def _checkpoint(model: Any) -> str:
    """A TrainResult, a run folder or a model.pt, as the checkpoint file the cores take."""
    from galaxy_studio.model.classification import checkpoint_path

    return str(checkpoint_path(getattr(model, "checkpoint", model)))


def classify(
    model: Any,
    inputs: PathLike | Iterable[PathLike],
    *,
    tta: bool = False,
    batch_size: int = 64,
    device: str = "auto",
    progress: bool = True,
) -> Table:
    """Classify every cutout under `inputs` (files, folders, CSV catalogues, Galaxy10 files) with
    `model` (a TrainResult, run folder or model.pt) into an astropy Table: a row per cutout with
    the columns of the command line's CSV (path, predicted, confidence, entropy, p_<class>,
    ood_score, ood_percentile, unfamiliar, warnings, ra, dec), with their units and descriptions.
    Inputs that could not be read are listed with the reason in `table.meta["failures"]`;
    `table.meta["classes"]` is the model's classes."""
    from galaxy_studio.model.classification import ClassifyConfig, predictions_table
    from galaxy_studio.model.classification import classify as classify_paths

    paths = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    config = ClassifyConfig(
        _checkpoint(model), tuple(str(path) for path in paths), tta=tta, batch_size=batch_size, device=device
    )
    with job_events(progress) as emit:
        result = classify_paths(config, emit=emit)
    table = predictions_table(result)
    table.meta.update(model=result.model, classes=list(result.classes), failures=list(result.failures))
    return table


def evaluate(
    model: Any, data: PathLike, *, split: str = "all", device: str = "auto", progress: bool = True
) -> dict[str, Any]:
    """Metrics of `model` on labelled `data`, as in a run's metrics.json: accuracy with its 95%
    interval, balanced accuracy, macro AUC, confusion matrix, per-class precision and recall, and
    warnings (too few images, ...). split="test" scores the test split of the run that made the
    model, drawn from that same data."""
    from galaxy_studio.model.evaluation import evaluate_classifier

    with job_events(progress) as emit:
        return evaluate_classifier(_checkpoint(model), data, split=split, device=device, emit=emit)


def explain(
    model: Any, cutout: Cutout | PathLike, *, method: str = "saliency", target: str | None = None
) -> np.ndarray:
    """The importance map (float (H, W), at the cutout's resolution) of class `target` (the
    predicted class by default) for one cutout; `method` is one of saliency, smoothgrad, ig,
    gradcam, occlusion."""
    from galaxy_studio.api.pictures import explanation

    return explanation(model, cutout, method=method, target=target)[0]


def train_experts(data: PathLike, out: PathLike, *, progress: bool = True, **settings: Any) -> BufferResult:
    """Train the expert trajectories a distillation matches (a buffer folder `out`); `settings` are
    BufferConfig's (experts, epochs, arch, width, size, ...). Finished experts are kept when it
    runs again."""
    from galaxy_studio.distill.config import BufferConfig
    from galaxy_studio.distill.experts import train_experts as train_buffer

    config = BufferConfig(data=str(data), out_dir=str(out), **settings)
    with job_events(progress) as emit:
        return train_buffer(config, emit=emit)


def distill(buffer: Any, data: PathLike, out: PathLike, *, progress: bool = True, **settings: Any) -> DistillResult:
    """Distil `buffer` (a BufferResult or its folder) into a few synthetic images per class in the
    run folder `out`; `settings` are DistillConfig's (method, ipc, iterations, syn_steps, ...). The
    result names the synthetic set, its prototype pictures and how readable they are."""
    from galaxy_studio.distill.config import DistillConfig
    from galaxy_studio.distill.runner import distill as distill_buffer

    folder = str(getattr(buffer, "buffer_dir", buffer))
    config = DistillConfig(buffer=folder, data=str(data), out_dir=str(out), **settings)
    with job_events(progress) as emit:
        return distill_buffer(config, emit=emit)


def evaluate_synthetic(
    run: Any, data: PathLike | None = None, *, progress: bool = True, **protocol: Any
) -> dict[str, Any]:
    """Train fresh networks on the distilled set of `run` (a DistillResult or its folder), on as
    many random real images, on class means and on the full training split, and compare their
    test accuracy ({"distilled", "random_real", "class_mean", "full"}: each mean, std, ...);
    `protocol` holds EvaluationProtocol's settings (nets, epochs, device, ...)."""
    from galaxy_studio.distill.config import EvaluationProtocol
    from galaxy_studio.distill.evaluate import evaluate_synthetic as evaluate_run

    folder = str(getattr(run, "run_dir", run))
    with job_events(progress) as emit:
        return evaluate_run(folder, data, EvaluationProtocol(**protocol), emit=emit)
