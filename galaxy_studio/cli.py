"""The `galaxy-studio` command: no subcommand opens the GUI; subcommands run jobs headless.

Heavy imports (Qt, torch) happen inside the handlers so that `--help` and the
file-inspection commands start fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from galaxy_studio import __version__
from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.distill.config import (
    AUGMENT_NAMES,
    DISTILL_METHODS,
    INIT_MODES,
    MEMORY_MODE_NAMES,
    PRECISION_NAMES,
    STORAGE_DTYPES,
    BufferConfig,
    DistillConfig,
)
from galaxy_studio.distill.unsupervised_config import (
    ANTI_COLLAPSE_REAL_RECONSTRUCTION,
    ANTI_COLLAPSE_REPULSION,
    UnsupervisedConfig,
)
from galaxy_studio.events import BufferPlanned, EpochEnded, Event, MetricLogged, Progressed, StageAdvanced, Warned
from galaxy_studio.eta import Eta
from galaxy_studio.model.config import (
    ARCHITECTURE_NAMES,
    BALANCE_MODES,
    CHANNEL_MODES,
    DEVICES,
    EXPLANATION_METHODS,
    PRETRAINED_MODES,
    TrainConfig,
)

PROG = "galaxy-studio"


class CommandError(Exception):
    """A failure the user can act on; printed as one line without a traceback."""


class ProgressPrinter:
    """Event sink that draws a one-line progress bar on stderr, with the time spent and an
    estimate of the time left, redrawn at most `redraws_per_second` times (and at the end)."""

    def __init__(self, stream: Any = None, width: int = 30, redraws_per_second: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = 1.0 / redraws_per_second
        self._eta = Eta()
        self._drawn = -math.inf

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Progressed) or event.total <= 0:
            return
        now = time.monotonic()
        timing = self._eta.describe(event, now)
        finished = event.done >= event.total
        if not finished and now - self._drawn < self.interval:
            return
        self._drawn = -math.inf if finished else now
        filled = int(self.width * event.done / event.total)
        bar = "#" * filled + "-" * (self.width - filled)
        # On a terminal, erase what a longer previous line left behind.
        erase = "\x1b[K" if getattr(self.stream, "isatty", lambda: False)() else ""
        end = "\n" if finished else ""
        self.stream.write(f"\r{event.what} [{bar}] {event.done}/{event.total} {timing}{erase}{end}")
        self.stream.flush()


def _inspect_record(path: str) -> dict[str, Any]:
    from galaxy_studio.data.formats import detect_format, read_cutout

    if detect_format(path) == "hdf5":
        from galaxy_studio.data.galaxy10 import GALAXY10_CLASSES, open_galaxy10

        g10 = open_galaxy10(path)
        return {
            "path": path, "format": "galaxy10", "shape": [len(g10), *g10.image_shape],
            "dtype": "uint8", "bands": ["R", "G", "B"], "hdus": None, "wcs": None,
            "nan_count": 0, "classes": list(GALAXY10_CLASSES),
        }
    cutout = read_cutout(path)
    centre = cutout.centre_sky_position()
    record: dict[str, Any] = {
        "path": path,
        "format": cutout.format,
        "shape": list(cutout.data.shape),
        "dtype": str(cutout.meta.get("stored_dtype", cutout.data.dtype)),
        "bands": list(cutout.bands),
        "hdus": None,
        "wcs": None if centre is None else {"ra": centre[0], "dec": centre[1]},
        "nan_count": cutout.nan_count,
    }
    if cutout.format == "fits":
        from galaxy_studio.data.fits import count_hdus

        record["hdus"] = count_hdus(path)
    if cutout.scale > 1:
        record["decimated_by"] = cutout.scale
    return record


def _describe(record: dict[str, Any]) -> str:
    shape = "x".join(str(n) for n in record["shape"])
    parts = [record["path"], record["format"], shape, record["dtype"], "bands " + ",".join(record["bands"])]
    if record["hdus"] is not None:
        parts.append(f"{record['hdus']} HDU(s)")
    if record["wcs"]:
        parts.append(f"centre RA {record['wcs']['ra']:.6f} Dec {record['wcs']['dec']:.6f}")
    if record["nan_count"]:
        parts.append(f"{record['nan_count']} non-finite")
    return "  ".join(parts)


def _for_each_file(paths: Sequence[str], action: Callable[[str], None]) -> int:
    """Run `action` on every path; a bad file is reported and skipped, the rest proceed."""
    failures = 0
    for path in paths:
        try:
            action(path)
        except CutoutError as error:
            _print_error(str(error))
            failures += 1
        except OSError as error:
            _print_error(f"{path}: {error.strerror or error}")
            failures += 1
    return 1 if failures else 0


def cmd_inspect(args: argparse.Namespace) -> int:
    def show(path: str) -> None:
        record = _inspect_record(path)
        print(json.dumps(record) if args.json else _describe(record), flush=True)

    return _for_each_file(args.files, show)


def _parse_bands(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        bands = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise CommandError(f"--bands must be one or three comma-separated band indices, got {text!r}")
    if len(bands) not in (1, 3):
        raise CommandError(f"--bands must be one or three comma-separated band indices, got {text!r}")
    return bands


def cmd_render(args: argparse.Namespace) -> int:
    from PIL import Image

    from galaxy_studio.data.display import DisplaySettings, default_settings, fit_into_square, render_rgb
    from galaxy_studio.data.formats import read_cutout

    cutout = read_cutout(args.file, hdu=_parse_hdu(args.hdu))
    base = default_settings(cutout)
    settings = DisplaySettings(
        stretch=args.stretch or base.stretch,
        interval=args.interval or base.interval,
        composite=args.composite,
        bands=_parse_bands(args.bands),
        invert=args.invert,
        linked=base.linked if args.linked is None else args.linked,
    )
    try:
        rgb = render_rgb(cutout, settings)
    except ValueError as error:
        raise CommandError(f"{args.file}: {error}")
    if args.size:
        rgb = fit_into_square(rgb, args.size)
    out = Path(args.out)
    try:
        Image.fromarray(rgb).save(out)
    except (OSError, ValueError) as error:
        raise CommandError(f"{out}: cannot write image: {error}")
    print(f"{out}: {rgb.shape[1]}x{rgb.shape[0]} {settings.stretch}/{settings.interval}")
    return 0


def _parse_hdu(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def cmd_demo_data(args: argparse.Namespace) -> int:
    from galaxy_studio.data.synthetic import write_demo_set

    try:
        paths = write_demo_set(
            Path(args.dir), per_class=args.per_class, size=args.size, fmt=args.format,
            seed=args.seed, emit=ProgressPrinter(),
        )
    except ValueError as error:
        raise CommandError(str(error))
    print(f"wrote {len(paths)} demo galaxies to {args.dir}")
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    return _run_gui(args, paths=args.paths)


def _run_gui(args: argparse.Namespace, paths: Sequence[str] = ()) -> int:
    from galaxy_studio.gui.app import run_app

    return run_app(
        paths=list(paths),
        demo=args.demo,
        screenshot=Path(args.screenshot) if args.screenshot else None,
        panel=args.panel,
    )


def _reporting_project_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Project problems (damaged, busy, unknown class, ...) are one-line errors like the rest."""

    def run(args: argparse.Namespace) -> int:
        from galaxy_studio.labels.errors import ProjectError

        try:
            return handler(args)
        except ProjectError as error:
            raise CommandError(str(error)) from None

    return run


def _open_project(path: str) -> Any:
    from galaxy_studio.labels.store import Project

    project = Project.open(Path(path))
    for warning in project.warnings:
        print(f"{PROG}: warning: {project.path}: {warning}", file=sys.stderr)
    return project


def _print_skipped(skipped: Sequence[tuple[str, str]], limit: int = 20) -> None:
    for where, reason in skipped[:limit]:
        print(f"{PROG}: skipped {where}: {reason}", file=sys.stderr)
    if len(skipped) > limit:
        print(f"{PROG}: ... and {len(skipped) - limit} more skipped", file=sys.stderr)


def _pairs(values: Sequence[str] | None, option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values or []:
        left, sep, right = value.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise CommandError(f"{option} expects NAME=CLASS, got {value!r}")
        pairs.append((left.strip(), right.strip()))
    return pairs


@_reporting_project_errors
def cmd_project_new(args: argparse.Namespace) -> int:
    from galaxy_studio.labels.schemes import resolve_scheme
    from galaxy_studio.labels.store import Project

    scheme = resolve_scheme(args.scheme)
    with Project.create(Path(args.project), scheme) as project:
        classes = project.classes
    print(f"created {args.project}: scheme {scheme.name}, {len(classes)} classes ({', '.join(classes)})")
    return 0


@_reporting_project_errors
def cmd_project_add(args: argparse.Namespace) -> int:
    import os

    with _open_project(args.project) as project:
        added, skipped = project.add_paths(args.paths, emit=ProgressPrinter())
        total = len(project.images())
    named = {os.path.abspath(path) for path in args.paths}
    failed = [entry for entry in skipped if os.path.abspath(entry[0]) in named]
    for path, reason in failed:
        _print_error(f"{path}: {reason}")
    _print_skipped([entry for entry in skipped if entry not in failed])
    print(f"added {added} image(s) to {args.project} ({total} in all)")
    return 1 if failed else 0


@_reporting_project_errors
def cmd_project_label(args: argparse.Namespace) -> int:
    import os

    from galaxy_studio.labels.labeller import default_labeller

    labeller = args.labeller or default_labeller()
    with _open_project(args.project) as project:
        image_id = project.image_id(args.image, args.index)
        if image_id is None:
            shown = args.image if args.index is None else f"{args.image}[{args.index}]"
            if not os.path.exists(args.image):
                raise CommandError(f"{shown}: no such file, and not an image of {args.project}")
            raise CommandError(f"{shown}: not an image of {args.project}; add it first with `{PROG} project add`")
        project.label(image_id, args.class_name, labeller=labeller)
    print(f"labelled {args.image} as {args.class_name} (labeller {labeller})")
    return 0


def _import_format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    path = Path(args.file)
    if path.is_dir():
        return "folders"
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        return "galaxy10"
    if suffix == ".json":
        return "json"
    return "gz-votes" if args.answer else "csv"


@_reporting_project_errors
def cmd_project_import(args: argparse.Namespace) -> int:
    from galaxy_studio.labels import exchange

    fmt = _import_format(args)
    renames = dict(_pairs(args.map, "--map"))
    with _open_project(args.project) as project:
        if fmt == "gz-votes":
            answers = _pairs(args.answer, "--answer")
            if not answers:
                raise CommandError("--format gz-votes needs at least one --answer COLUMN=CLASS")
            report = exchange.import_gz_votes(
                project, args.file, answers, threshold=args.threshold, images=args.images,
                id_map=args.id_map, labeller=args.labeller, emit=ProgressPrinter(),
            )
        else:
            importer = {
                "csv": exchange.import_csv, "json": exchange.import_json,
                "folders": exchange.import_folders, "galaxy10": exchange.import_galaxy10,
            }[fmt]
            report = importer(project, args.file, labeller=args.labeller, renames=renames, emit=ProgressPrinter())
    _print_skipped(report.skipped)
    print(report.summary())
    return 1 if report.labels == 0 and report.skipped else 0


@_reporting_project_errors
def cmd_project_export(args: argparse.Namespace) -> int:
    from galaxy_studio.labels import exchange

    with _open_project(args.project) as project:
        if args.format in ("csv", "json"):
            writer = exchange.export_csv if args.format == "csv" else exchange.export_json
            report = writer(project, args.out, labeller=args.labeller, consensus=args.consensus)
        elif args.format == "folders":
            report = exchange.export_folders(project, args.out, labeller=args.labeller, link=args.link, emit=ProgressPrinter())
        else:
            report = exchange.export_galaxy10(project, args.out, labeller=args.labeller, emit=ProgressPrinter())
    _print_skipped(report.skipped)
    print(report.summary())
    return 0


def _describe_stats(project: Any, stats: Any) -> str:
    share = f" ({stats.labelled / stats.images:.1%})" if stats.images else ""
    width = max((len(name) for name in stats.per_class), default=0)
    lines = [
        f"{project.path}  scheme {project.scheme_name}",
        f"images         {stats.images}" + (f" ({stats.missing} missing)" if stats.missing else ""),
        f"labelled       {stats.labelled}{share}",
        "per class",
        *(f"  {name:<{width}}  {count}" for name, count in stats.per_class.items()),
        "labellers      " + (", ".join(f"{name} {count}" for name, count in stats.labellers.items()) or "none"),
        f"disagreements  {stats.disagreements}",
    ]
    if stats.agreement is None:
        lines.append("agreement      - (no image has two human labellers)")
    else:
        lines.append(f"agreement      {stats.agreement:.1%} of {stats.multiply_labelled} images with two or more labellers")
    return "\n".join(lines)


@_reporting_project_errors
def cmd_project_stats(args: argparse.Namespace) -> int:
    with _open_project(args.project) as project:
        stats = project.stats()
        if args.json:
            print(json.dumps({"project": str(project.path), "scheme": project.scheme_name, **stats.to_json()}))
        else:
            print(_describe_stats(project, stats))
    return 0


@_reporting_project_errors
def cmd_project_restore(args: argparse.Namespace) -> int:
    from galaxy_studio.labels.backups import list_backups, restore_backup

    project = Path(args.project)
    backup = Path(args.backup) if args.backup else next(iter(list_backups(project)), None)
    if backup is None:
        raise CommandError(f"{project}: no automatic backup to restore")
    aside = restore_backup(project, backup)
    kept = f"; the previous file was kept as {aside}" if aside else ""
    print(f"restored {project} from {backup}{kept}")
    return 0


@_reporting_project_errors
def cmd_project_relink(args: argparse.Namespace) -> int:
    with _open_project(args.project) as project:
        relinked = project.relink([Path(folder) for folder in args.folders] or None)
        missing = project.refresh_missing()
    print(f"relinked {relinked} image(s); {missing} still missing")
    return 1 if missing else 0


@_reporting_project_errors
def cmd_project_suggest(args: argparse.Namespace) -> int:
    from galaxy_studio.model.errors import ModelError
    from galaxy_studio.model.suggestions import SuggestConfig, suggest_labels

    config = SuggestConfig(args.project, args.model, tta=args.tta, device=args.device)
    try:
        result = suggest_labels(config, emit=ProgressPrinter())
    except ModelError as error:
        raise CommandError(str(error))
    print(f"stored {result.stored} suggestion(s) from {result.model} in {args.project}")
    if result.ranked:
        print("most uncertain (entropy, confidence, suggested class, image):")
    for name, suggestion in result.ranked[:10]:
        print(f"  {suggestion.entropy:.4f}  {suggestion.confidence:.3f}  {suggestion.class_name}  {name}")
    for name, reason in result.failures:
        _print_error(reason)
    return 1 if result.failures else 0


def _add_project_commands(sub: Any) -> None:
    project = sub.add_parser("project", help="labelling projects: create, add images, label, import, export, stats, suggest")
    actions = project.add_subparsers(dest="project_command", metavar="ACTION", required=True)

    p = actions.add_parser("new", help="create a project file (*.gsproj) with a class scheme")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("--scheme", required=True, metavar="SCHEME",
                   help="galaxy10, gz2-9, spiral, or a CSV file with one class name per row")
    p.set_defaults(handler=cmd_project_new)

    p = actions.add_parser("add", help="add images: files, folders, Galaxy10 HDF5, CSV lists")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(handler=cmd_project_add)

    p = actions.add_parser("label", help="label one image; exits 0 only once the label is on disk")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("image", metavar="IMAGE_PATH")
    p.add_argument("class_name", metavar="CLASS")
    p.add_argument("--index", type=int, help="row of a Galaxy10 HDF5 file")
    p.add_argument("--labeller", metavar="NAME",
                   help="default: $GALAXY_STUDIO_LABELLER, the saved setting, or your user name")
    p.set_defaults(handler=cmd_project_label)

    p = actions.add_parser("import", help="import labels: CSV, JSON, class folders, Galaxy10 HDF5, Galaxy Zoo votes")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=("csv", "json", "folders", "galaxy10", "gz-votes"),
                   help="default: from FILE (folder, .h5, .json; gz-votes when --answer is given; else csv)")
    p.add_argument("--answer", action="append", metavar="COLUMN=CLASS",
                   help="gz-votes: an answer column standing for a class (repeat)")
    p.add_argument("--threshold", type=float, default=0.5, help="gz-votes: smallest winning fraction (default 0.5)")
    p.add_argument("--images", metavar="DIR", help="gz-votes: where the images are (default: FILE's folder)")
    p.add_argument("--id-map", metavar="CSV", help="gz-votes: CSV mapping the table's ids to image file names")
    p.add_argument("--map", action="append", metavar="NAME=CLASS", help="read class NAME as the project's CLASS (repeat)")
    p.add_argument("--labeller", metavar="NAME", help="labeller of the imported labels (default: FILE's name)")
    p.set_defaults(handler=cmd_project_import)

    p = actions.add_parser("export", help="export labels: CSV, JSON, class folders, Galaxy10-layout HDF5")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("--format", required=True, choices=("csv", "json", "folders", "galaxy10"))
    p.add_argument("out", metavar="OUT")
    p.add_argument("--labeller", metavar="NAME", help="only this labeller's labels (default: all for CSV/JSON, else the consensus)")
    p.add_argument("--consensus", action="store_true", help="csv/json: one consensus label per image")
    p.add_argument("--link", action="store_true", help="folders: symbolic links instead of copies")
    p.set_defaults(handler=cmd_project_export)

    p = actions.add_parser("stats", help="images, labelled, per-class counts, labellers, agreement")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(handler=cmd_project_stats)

    p = actions.add_parser("restore", help="replace a damaged project by an automatic backup")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("backup", nargs="?", metavar="BACKUP", help="default: the newest backup")
    p.set_defaults(handler=cmd_project_restore)

    p = actions.add_parser("suggest", help="store a model's predictions for the unlabelled images as suggestions")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("model", metavar="MODEL", help="a finished run folder or its model.pt")
    p.add_argument("--tta", action="store_true", help="average over the 8 rotations and mirror images")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(handler=cmd_project_suggest)

    p = actions.add_parser("relink", help="find moved images again by content")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("folders", nargs="*", metavar="DIR", help="where to look (default: the project's folder)")
    p.set_defaults(handler=cmd_project_relink)


class TrainingPrinter(ProgressPrinter):
    """Progress bars, plus one line per finished epoch and every warning, all on stderr."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, EpochEnded):
            self.stream.write(
                f"\repoch {event.epoch}/{event.epochs}  train loss {event.train_loss:.4f} acc {event.train_acc:.3f}"
                f"  val loss {event.val_loss:.4f} acc {event.val_acc:.3f}  {event.seconds:.1f} s\n"
            )
            self.stream.flush()
        elif isinstance(event, Warned):
            self.stream.write(f"{PROG}: warning: {event.text}\n")
            self.stream.flush()
        elif not (isinstance(event, Progressed) and event.what.startswith("epoch") and event.done >= event.total):
            super().__call__(event)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    from galaxy_studio.model.runs import new_run_dir

    chosen = {
        "arch": args.arch, "size": args.size, "epochs": args.epochs, "batch_size": args.batch_size,
        "lr": args.lr, "min_lr": args.min_lr, "weight_decay": args.weight_decay,
        "crop_fraction": args.crop, "channels": args.channels, "width": args.width,
        "pretrained": args.pretrained, "weights_path": args.weights, "balance": args.balance,
        "seed": args.seed, "device": args.device,
    }
    overrides: dict[str, Any] = {key: value for key, value in chosen.items() if value is not None}
    if args.patience is not None:
        overrides["patience"] = args.patience or None
    if args.ema is not None:
        overrides["ema"] = args.ema or None
    if args.no_augment:
        overrides["augment"] = False
    if args.amp:
        overrides["amp"] = True
    if args.bands:
        overrides["bands"] = tuple(band.strip() for band in args.bands.split(",") if band.strip())
    out = args.out or str(new_run_dir(args.arch or TrainConfig.arch))
    return TrainConfig(data=args.data, out_dir=out, **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from galaxy_studio.model.errors import ModelError
    from galaxy_studio.model.training import train_classifier

    config = _train_config(args)
    try:
        result = train_classifier(config, emit=TrainingPrinter())
    except ModelError as error:
        raise CommandError(str(error))
    except KeyboardInterrupt:
        _print_error(f"the last finished epoch is saved in {config.out_dir}; run the same command to resume")
        raise
    metrics = result.metrics
    print(
        f"{result.checkpoint}: test accuracy {metrics['accuracy']:.4f}, macro AUC {metrics['macro_auc']:.4f} "
        f"on {metrics['n']} images; best epoch {result.best_epoch} of {result.epochs_run}",
        file=sys.stderr,
    )
    record = {**metrics, "run_dir": result.run_dir, "checkpoint": result.checkpoint, "seconds": round(result.seconds, 1)}
    print(json.dumps(record), flush=True)
    return 0


def _describe_metrics(report: dict[str, Any]) -> str:
    classes = report["classes"]
    width = max(len(name) for name in [*classes, "class"])
    auc = "n/a" if report["macro_auc"] is None else f"{report['macro_auc']:.4f}"
    lines = [
        f"{report['n']} images: accuracy {report['accuracy']:.4f}, balanced accuracy "
        f"{report['balanced_accuracy']:.4f}, macro one-vs-rest ROC AUC {auc}",
        "confusion matrix (rows: true class, columns: predicted class by number):",
        " " * width + "".join(f" {index:>7}" for index in range(len(classes))),
    ]
    for index, (name, row) in enumerate(zip(classes, report["confusion"])):
        lines.append(f"{name:<{width}}" + "".join(f" {count:>7}" for count in row) + f"   ({index})")
    lines.append(f"{'class':<{width}} precision  recall  support")
    for name in classes:
        stats = report["per_class"][name]
        precision = "-" if stats["precision"] is None else f"{stats['precision']:.3f}"
        recall = "-" if stats["recall"] is None else f"{stats['recall']:.3f}"
        lines.append(f"{name:<{width}} {precision:>9} {recall:>7} {stats['support']:>8}")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from galaxy_studio.model.errors import ModelError
    from galaxy_studio.model.evaluation import evaluate_classifier

    try:
        report = evaluate_classifier(args.model, args.data, split=args.split, device=args.device,
                                     emit=TrainingPrinter())
    except ModelError as error:
        raise CommandError(str(error))
    if report["n"] == 0:
        raise CommandError(f"{args.data}: no image could be read")
    print(json.dumps(report) if args.json else _describe_metrics(report), flush=True)
    return 0


def _overlay_name(prediction: Any, used: set[str]) -> str:
    """One PNG per input, named after it; a second input of the same name gets a number."""
    stem = Path(prediction.path).name.split(".")[0] + ("" if prediction.index is None else f"-{prediction.index}")
    name, number = f"{stem}.png", 1
    while name in used:
        number += 1
        name = f"{stem}-{number}.png"
    used.add(name)
    return name


def _write_overlays(result: Any, method: str, folder: Path, device: str) -> int:
    """Overlay of the predicted class's map on the cutout as the Library draws it; returns failures."""
    from PIL import Image

    from galaxy_studio.data.catalog import read_item
    from galaxy_studio.data.display import render_rgb
    from galaxy_studio.model.classification import open_classifier
    from galaxy_studio.model.errors import ModelError
    from galaxy_studio.model.explain import explain_cutout, explainable_copy, overlay_rgb
    from galaxy_studio.model.prediction import resolve_device

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"{folder}: cannot make the saliency folder: {error.strerror or error}")
    classifier = open_classifier(result.model)
    model = explainable_copy(classifier.model).to(resolve_device(device))
    used: set[str] = set()
    failures = 0
    progress = ProgressPrinter()
    for done, prediction in enumerate(result.predictions, 1):
        out = folder / _overlay_name(prediction, used)
        try:
            cutout = read_item(prediction.item)
            target = classifier.classes.index(prediction.predicted)
            values = explain_cutout(model, classifier.prep, cutout, target, method)
            Image.fromarray(overlay_rgb(render_rgb(cutout), values)).save(out)
        except (CutoutError, ModelError, ValueError) as error:
            _print_error(f"{prediction.name}: no overlay: {error}")
            failures += 1
        except OSError as error:
            _print_error(f"{out}: cannot write the overlay: {error.strerror or error}")
            failures += 1
        progress(Progressed(done, len(result.predictions), f"{method} overlays"))
    return failures


def cmd_classify(args: argparse.Namespace) -> int:
    from galaxy_studio.model.classification import ClassifyConfig, classify, write_predictions_csv
    from galaxy_studio.model.errors import ModelError

    if args.saliency and not args.saliency_dir:
        raise CommandError("--saliency needs --saliency-dir DIR for the overlay images")
    config = ClassifyConfig(args.model, tuple(args.paths), tta=args.tta, batch_size=args.batch_size, device=args.device)
    try:
        result = classify(config, emit=ProgressPrinter())
        if result.predictions:
            write_predictions_csv(result, args.out)
    except ModelError as error:
        raise CommandError(str(error))
    for name, reason in result.failures:
        _print_error(reason)
    if not result.predictions:
        raise CommandError("no cutout could be classified; nothing was written")
    failures = len(result.failures)
    if args.saliency:
        try:
            failures += _write_overlays(result, args.saliency, Path(args.saliency_dir), args.device)
        except ModelError as error:
            raise CommandError(str(error))
    rate = len(result.predictions) / result.seconds if result.seconds > 0 else 0.0
    print(f"{args.out}: {len(result.predictions)} cutout(s) classified ({rate:.0f}/s), "
          f"{len(result.failures)} left out")
    return 1 if failures else 0


def _add_model_commands(sub: Any) -> None:
    defaults = TrainConfig(data="", out_dir="")
    p = sub.add_parser(
        "train",
        help="train a classifier on labelled images; final metrics as JSON on the last line",
        description="Train a classifier on DATA: a labelled project (*.gsproj), a folder with a "
        "sub-folder per class, a CSV with a label column, or a Galaxy10 HDF5 file. The data is "
        "split 70/15/15 (seeded, stratified by class); the test split is scored with the weights "
        "of the lowest validation loss. RUN_DIR/model.pt is the checkpoint; running the same "
        "command again resumes an interrupted run.",
    )
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: a new folder in the app's runs folder)")
    p.add_argument("--arch", choices=ARCHITECTURE_NAMES, help=f"network (default {defaults.arch})")
    p.add_argument("--size", type=int, metavar="PX", help=f"input size in pixels (default {defaults.size})")
    p.add_argument("--epochs", type=int, help=f"at most this many epochs (default {defaults.epochs})")
    p.add_argument("--batch-size", type=int, help=f"default {defaults.batch_size}")
    p.add_argument("--lr", type=float, help=f"AdamW learning rate, annealed by a cosine (default {defaults.lr})")
    p.add_argument("--min-lr", type=float, help=f"final learning rate (default {defaults.min_lr})")
    p.add_argument("--weight-decay", type=float, help=f"AdamW weight decay (default {defaults.weight_decay})")
    p.add_argument("--patience", type=int, help="stop after this many epochs without a lower validation "
                   f"loss; 0: never (default {defaults.patience})")
    p.add_argument("--no-augment", action="store_true", help="no random rotations and flips")
    p.add_argument("--crop", type=float, metavar="FRACTION",
                   help=f"keep this central fraction of each cutout (default {defaults.crop_fraction})")
    p.add_argument("--channels", choices=CHANNEL_MODES, help="display: the colour image as the Library shows "
                   "it; bands: the file's bands, sky-subtracted and asinh-scaled (default display)")
    p.add_argument("--bands", help="bands mode: band names to use, e.g. g,r,z (default: all)")
    p.add_argument("--width", type=int, help="channels per layer (default: galaxy-cnn 32, vgg11 32, convnet-d3 128)")
    p.add_argument("--pretrained", choices=PRETRAINED_MODES, help="vgg11 from ImageNet weights: deep "
                   "(first convolutions frozen) or shallow (last layer trained only)")
    p.add_argument("--weights", metavar="FILE", help="ImageNet VGG11 weights file for --pretrained, when offline")
    p.add_argument("--balance", choices=BALANCE_MODES, help="counter unequal classes by weighting the loss, "
                   "by resampling, or not at all (default loss)")
    p.add_argument("--ema", type=float, metavar="DECAY", help="validate and keep an exponential moving average "
                   f"of the weights with this decay per step; 0: the trained weights (default {defaults.ema or 0})")
    p.add_argument("--seed", type=int, help=f"seed of the split, the initial weights and the augmentation (default {defaults.seed})")
    p.add_argument("--device", choices=DEVICES, help="default auto: cuda, then mps, then cpu")
    p.add_argument("--amp", action="store_true", help="mixed precision on a CUDA GPU: bfloat16 where the GPU has "
                   "it, else float16 with loss scaling (default: float32; the CPU always uses float32)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("evaluate", help="score a trained classifier on labelled images")
    p.add_argument("model", metavar="MODEL", help="a checkpoint (RUN_DIR/model.pt)")
    p.add_argument("data", metavar="DATA", help="labelled images: project, folder per class, CSV or HDF5")
    p.add_argument("--split", choices=("all", "test"), default="all",
                   help="all labelled images, or the test split of the run that made MODEL (same DATA)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser(
        "classify",
        help="classify cutouts with a trained model into a CSV (optionally with saliency overlays)",
        description="Classify every cutout under PATH (files, folders, CSV catalogues, Galaxy10 HDF5) "
        "with MODEL, applying the preprocessing the model was trained with. The CSV has the columns "
        "path, predicted, confidence, entropy and p_<class> per class. Unreadable files are reported "
        "and the rest proceed (exit 1 if any was left out).",
    )
    p.add_argument("model", metavar="MODEL", help="a finished run folder or its model.pt")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", required=True, metavar="predictions.csv")
    p.add_argument("--tta", action="store_true", help="average over the 8 rotations and mirror images")
    p.add_argument("--saliency", choices=EXPLANATION_METHODS,
                   help="also write one PNG per input: this explanation of the predicted class over the cutout")
    p.add_argument("--saliency-dir", metavar="DIR", help="folder for the --saliency overlays")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(handler=cmd_classify)


class DistillPrinter(TrainingPrinter):
    """Training output plus the buffer's planned size, experts' accuracies and stage changes."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, BufferPlanned):
            self.stream.write(
                f"buffer: {event.experts} expert(s) x {event.epochs + 1} snapshots x {event.parameters:,} "
                f"parameters = {event.bytes / 1e6:.1f} MB on disk\n"
            )
        elif isinstance(event, MetricLogged) and event.name == "expert_test_accuracy":
            self.stream.write(f"\rexpert {event.step + 1}: test accuracy {event.value:.4f}\n")
        elif isinstance(event, StageAdvanced):
            self.stream.write(f"\rstage {event.stage}: {event.reason}\n")
        else:
            super().__call__(event)
            return
        self.stream.flush()


def _model_errors(action: Callable[[], Any], interrupted: str) -> Any:
    """Run a distillation job: its ModelError becomes one line; Ctrl-C says what was kept."""
    from galaxy_studio.model.errors import ModelError

    try:
        return action()
    except ModelError as error:
        raise CommandError(str(error)) from None
    except KeyboardInterrupt:
        _print_error(interrupted)
        raise


def cmd_buffer(args: argparse.Namespace) -> int:
    from galaxy_studio.distill.config import BufferConfig
    from galaxy_studio.distill.experts import train_experts
    from galaxy_studio.model.errors import ModelError

    chosen = {"arch": args.arch, "width": args.width, "size": args.size, "crop_fraction": args.crop,
              "channels": args.channels, "lr": args.lr, "batch_size": args.batch_size, "augment": args.augment,
              "storage": args.storage, "seed": args.seed, "device": args.device}
    try:
        config = BufferConfig(data=args.data, out_dir=args.out, experts=args.experts, epochs=args.epochs,
                              zca=args.zca, **{key: value for key, value in chosen.items() if value is not None})
    except ModelError as error:
        raise CommandError(str(error)) from None
    result = _model_errors(lambda: train_experts(config, emit=DistillPrinter()),
                           f"finished experts are kept in {args.out}; run the same command to train the rest")
    print(json.dumps({"buffer_dir": result.buffer_dir, "experts": result.experts, "trained_now": result.trained_now,
                      "test_accuracies": result.test_accuracies, "bytes": result.bytes_on_disk,
                      "seconds": round(result.seconds, 1)}), flush=True)
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from galaxy_studio.distill.config import DistillConfig
    from galaxy_studio.distill.export import export_fits_cube, export_png_grids, load_synthetic
    from galaxy_studio.distill.readability import describe_readability
    from galaxy_studio.distill.runner import distill
    from galaxy_studio.model.errors import ModelError

    chosen = {"method": args.method, "ipc": args.ipc, "syn_steps": args.syn_steps, "memory": args.memory,
              "iterations": args.iterations, "max_start_epoch": args.max_start_epoch,
              "expert_epochs": args.expert_epochs, "lr_img": args.lr_img, "lr_lr": args.lr_lr,
              "lr_teacher": args.lr_teacher, "batch_syn": args.batch_syn, "init": args.init,
              "augment": args.augment, "max_stage": args.max_stage,
              "finetune_every": args.finetune_every, "min_lr_img": args.min_lr_img,
              "checkpoint_every": args.checkpoint_every,
              "snapshot_every": args.snapshot_every, "seed": args.seed, "device": args.device,
              "precision": args.precision, "clamp": args.clamp}
    try:
        config = DistillConfig(buffer=args.buffer, data=args.data, out_dir=args.out,
                               **{key: value for key, value in chosen.items() if value is not None})
    except ModelError as error:
        raise CommandError(str(error)) from None
    result = _model_errors(lambda: distill(config, emit=DistillPrinter()),
                           f"the last checkpoint is in {args.out}; run the same command to resume")
    out = Path(result.run_dir)
    synthetic = _model_errors(lambda: load_synthetic(result.synthetic), "nothing was written")
    pictures = export_png_grids(synthetic, out / "prototypes")
    export_fits_cube(synthetic, out / "synthetic.fits")
    print(f"{result.synthetic}: {result.iterations} iterations (stopped by {result.stopped_by}), stage "
          f"{result.stage}, lr {result.lr:.4g}; pictures in {pictures[-1].parent}\n"
          f"{describe_readability(result.readability)}", file=sys.stderr)
    print(json.dumps({"run_dir": result.run_dir, "synthetic": result.synthetic, "iterations": result.iterations,
                      "resumed_from": result.resumed_from, "stopped_by": result.stopped_by, "stage": result.stage,
                      "lr": result.lr, "final_loss": result.final_loss, "seconds": round(result.seconds, 1),
                      "readability": result.readability}),
          flush=True)
    return 0


def cmd_evaluate_synthetic(args: argparse.Namespace) -> int:
    from galaxy_studio.distill.evaluate import EvaluationProtocol, evaluate_synthetic, format_table

    protocol = EvaluationProtocol(nets=args.nets, epochs=args.epochs, full_epochs=args.full_epochs,
                                  seed=args.seed, device=args.device)
    report = _model_errors(lambda: evaluate_synthetic(args.run, args.data, protocol, emit=TrainingPrinter()),
                           "evaluation stopped; nothing was written")
    print(format_table(report), flush=True)
    if args.json:
        print(json.dumps(report), flush=True)
    return 0


def _add_distill_commands(sub: Any) -> None:
    buffer = BufferConfig(data="", out_dir="")
    p = sub.add_parser(
        "buffer", help="train expert trajectories for distillation (one memory-mappable file per expert)",
        description="Train N experts on the training split of DATA with plain SGD and differentiable "
        "augmentation, saving every expert's parameters at the start and after each epoch into BUFFER_DIR. "
        "The size on disk is printed first; running the same command again keeps finished experts.",
    )
    p.add_argument("data", metavar="DATA", help="labelled images: project, folder per class, CSV or HDF5")
    p.add_argument("--experts", type=int, default=buffer.experts, help=f"default {buffer.experts}")
    p.add_argument("--epochs", type=int, default=buffer.epochs, help=f"default {buffer.epochs}")
    p.add_argument("--out", required=True, metavar="BUFFER_DIR")
    p.add_argument("--arch", choices=ARCHITECTURE_NAMES, help=f"network without batch norm (default {buffer.arch})")
    p.add_argument("--width", type=int, help="channels per layer (default: the architecture's)")
    p.add_argument("--size", type=int, metavar="PX", help=f"image size (default {buffer.size})")
    p.add_argument("--crop", type=float, metavar="FRACTION", help=f"central fraction kept (default {buffer.crop_fraction})")
    p.add_argument("--channels", choices=CHANNEL_MODES, help="display or bands (default display)")
    p.add_argument("--lr", type=float, help=f"SGD learning rate (default {buffer.lr})")
    p.add_argument("--batch-size", type=int, help=f"default {buffer.batch_size}")
    p.add_argument("--augment", choices=AUGMENT_NAMES, help=f"differentiable augmentation (default {buffer.augment})")
    p.add_argument("--zca", action="store_true", help="ZCA-whiten the images (fitted on the training split)")
    p.add_argument("--storage", choices=STORAGE_DTYPES, help=f"snapshot precision (default {buffer.storage})")
    p.add_argument("--seed", type=int, help=f"split and initialisation seed (default {buffer.seed})")
    p.add_argument("--device", choices=DEVICES)
    p.set_defaults(handler=cmd_buffer)

    run = DistillConfig(buffer="", data="", out_dir="")
    p = sub.add_parser(
        "distill", help="distil a buffer into a few synthetic images per class (STM or MTT)",
        description="Match the expert trajectories of BUFFER_DIR with IPC synthetic images per class. Writes "
        "RUN_DIR/synthetic.npz, prototypes/*.png and synthetic.fits; a checkpoint every few iterations lets the "
        "same command resume an interrupted run exactly.",
    )
    p.add_argument("buffer", metavar="BUFFER_DIR")
    p.add_argument("data", metavar="DATA", help="the labelled images the buffer was trained on")
    p.add_argument("--method", choices=DISTILL_METHODS, help=f"default {run.method}")
    p.add_argument("--ipc", type=int, help=f"images per class (default {run.ipc})")
    p.add_argument("--syn-steps", type=int, help=f"unrolled student steps (default {run.syn_steps})")
    p.add_argument("--memory", choices=MEMORY_MODE_NAMES, help="full graph, checkpointed segments, or constant "
                   "memory (TESLA-style; approximate gradient) (default full)")
    p.add_argument("--precision", choices=PRECISION_NAMES, help="GPU arithmetic of the unroll: fp32, tf32 "
                   f"products, or bf16 autocast; the CPU always computes fp32 (default {run.precision})")
    p.add_argument("--iterations", type=int, help=f"at most this many iterations (default {run.iterations})")
    p.add_argument("--max-start-epoch", type=int, help=f"mtt only (default {run.max_start_epoch})")
    p.add_argument("--expert-epochs", type=int, help=f"mtt only (default {run.expert_epochs})")
    p.add_argument("--lr-img", type=float, help=f"image learning rate (default {run.lr_img:g})")
    p.add_argument("--clamp", action=argparse.BooleanOptionalAction,
                   help="keep every pixel within the real images' 0.1-99.9 percentile range of its channel "
                   f"(default {'on' if run.clamp else 'off'})")
    p.add_argument("--lr-lr", type=float, help=f"learning rate of log(step size) (default {run.lr_lr:g})")
    p.add_argument("--lr-teacher", type=float, help=f"initial step size (default {run.lr_teacher:g})")
    p.add_argument("--batch-syn", type=int, help="synthetic images per unrolled step (default all)")
    p.add_argument("--init", choices=INIT_MODES, help=f"initial images (default {run.init})")
    p.add_argument("--augment", choices=AUGMENT_NAMES, help=f"default {run.augment}")
    p.add_argument("--max-stage", type=int, help=f"stm: iterations before fine-tuning (default {run.max_stage})")
    p.add_argument("--finetune-every", type=int, help=f"stm: fine-tuning multiplies lr_img by {run.finetune_decay:g} "
                   f"every this many iterations (default {run.finetune_every})")
    p.add_argument("--min-lr-img", type=float, help="stm: stop once fine-tuning brings lr_img below this "
                   "(default: a twentieth of --lr-img, the paper's 1000 -> 50)")
    p.add_argument("--checkpoint-every", type=int, help=f"default {run.checkpoint_every}")
    p.add_argument("--snapshot-every", type=int, help=f"default {run.snapshot_every}")
    p.add_argument("--seed", type=int, help=f"default {run.seed}")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--out", required=True, metavar="RUN_DIR")
    p.set_defaults(handler=cmd_distill)

    p = sub.add_parser(
        "evaluate-synthetic", help="train fresh nets on a synthetic set and compare with real baselines",
        description="Train NETS fresh networks on RUN_DIR's synthetic set, on as many random real images per "
        "class, on per-class mean images and on the full training split, and print their test accuracy "
        "(mean +- std). With --json the last line is a JSON object with keys distilled, random_real, "
        "class_mean and full, each holding mean and std.",
    )
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("data", metavar="DATA", nargs="?", help="the buffer's labelled images (default: its recorded path)")
    p.add_argument("--nets", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1000, help="epochs on the small sets (default 1000)")
    p.add_argument("--full-epochs", type=int, default=0,
                   help="train fresh nets this many epochs on the full training split for its row (default 0: the "
                   "row is the buffer's experts, already trained on it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--json", action="store_true", help="a JSON object on the last line")
    p.set_defaults(handler=cmd_evaluate_synthetic)


def cmd_embed(args: argparse.Namespace) -> int:
    from galaxy_studio.explore.embeddings import EmbedConfig, embed

    if args.model:
        source, model = "model", args.model
    elif args.backbone:
        source, model = "backbone", None
    else:
        source, model = "autoencoder", args.autoencoder or None
    chosen = {"size": args.size, "crop_fraction": args.crop, "latent": args.latent,
              "autoencoder_epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
              "device": args.device}
    config = _model_errors(
        lambda: EmbedConfig(data=args.data, source=source, model=model, backbone=args.backbone,
                            weights_path=args.weights, use_cache=not args.no_cache,
                            average_orientations=not args.single_orientation,
                            **{key: value for key, value in chosen.items() if value is not None}), "nothing was written")
    started = time.perf_counter()
    embeddings = _model_errors(lambda: embed(config, emit=TrainingPrinter()), "nothing was written")
    seconds = time.perf_counter() - started
    try:
        embeddings.save(args.out)
    except OSError as error:
        raise CommandError(f"{args.out}: cannot write the embeddings ({error.strerror or error})") from None
    labelled = int((embeddings.labels >= 0).sum())
    print(f"{args.out}: {len(embeddings)} images x {embeddings.vectors.shape[1]} values from {embeddings.source}; "
          f"{labelled} labelled; {seconds:.1f} s", file=sys.stderr)
    print(json.dumps({"out": args.out, "images": len(embeddings), "dimension": int(embeddings.vectors.shape[1]),
                      "labelled": labelled, "source": embeddings.source, "seconds": round(seconds, 2)}), flush=True)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from galaxy_studio.explore.embeddings import Embeddings
    from galaxy_studio.explore.inventory import open_inventory
    from galaxy_studio.explore.report import clustering_report, format_report

    embeddings = _model_errors(lambda: Embeddings.load(args.embeddings), "nothing was written")
    if args.labels:
        inventory = _model_errors(lambda: open_inventory(args.labels), "nothing was written")
        embeddings = embeddings.with_labels(inventory)
        if not embeddings.has_labels:
            raise CommandError(f"{args.labels}: none of its labelled images is in {args.embeddings}")
    methods = args.method or ["kmeans"]
    rows = _model_errors(lambda: clustering_report(embeddings, args.k, methods, args.seed), "nothing was written")
    print(format_report(rows, embeddings.class_names), flush=True)
    if args.json:
        print(json.dumps({"embeddings": args.embeddings, "n": len(embeddings), "classes": list(embeddings.class_names),
                          "results": rows}), flush=True)
    return 0


def _add_explore_commands(sub: Any) -> None:
    from galaxy_studio.explore.clustering import CLUSTER_METHODS

    p = sub.add_parser(
        "embed", help="one vector per image (classifier, autoencoder or backbone), saved as EMB.npz",
        description="Embed every image of DATA, labelled or not. --model takes a classifier's penultimate layer; "
        "--autoencoder trains a small convolutional autoencoder on DATA itself (or uses FILE); --backbone uses a "
        "torchvision network with local weights (--weights, or torchvision's cache; nothing is downloaded). "
        "Results are cached per data and model file and recomputed when either changes.",
    )
    p.add_argument("data", metavar="DATA", help="project (.gsproj), folder, CSV list or Galaxy10 HDF5")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="MODEL", help="classifier run folder or model.pt")
    source.add_argument("--autoencoder", nargs="?", const="", metavar="FILE",
                        help="autoencoder embedding (the default); FILE reuses a trained one")
    source.add_argument("--backbone", metavar="NAME", help="torchvision network, e.g. resnet18")
    p.add_argument("--weights", metavar="FILE", help="the backbone's weights (a torchvision state dict)")
    p.add_argument("--out", required=True, metavar="EMB.npz")
    p.add_argument("--size", type=int, metavar="PX", help="autoencoder/backbone input size (default 64)")
    p.add_argument("--crop", type=float, metavar="FRACTION", help="central fraction kept (default 0.5)")
    p.add_argument("--latent", type=int, help="autoencoder bottleneck size (default 64)")
    p.add_argument("--epochs", type=int, help="autoencoder training epochs (default 30)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--single-orientation", action="store_true",
                   help="embed each image as it is, not averaged over its 8 right-angle rotations and flips "
                   "(8 times faster; vectors then depend on the galaxy's orientation)")
    p.add_argument("--no-cache", action="store_true", help="compute again and leave the cache alone")
    p.set_defaults(handler=cmd_embed)

    p = sub.add_parser(
        "cluster", help="cluster embeddings; with labels, score them beside the majority baseline",
        description="Cluster EMB.npz (PCA keeping 95% of the variance, then k-means or spectral clustering). With "
        "labels (stored in EMB.npz, or from --labels DATA) print accuracy (Hungarian matching), ARI and NMI beside "
        "the majority-class baseline. --json prints one JSON object on the last line.",
    )
    p.add_argument("embeddings", metavar="EMB.npz")
    p.add_argument("--k", type=int, nargs="+", default=[10], help="number(s) of clusters (default 10)")
    p.add_argument("--method", choices=CLUSTER_METHODS, action="append",
                   help="kmeans (default) or spectral; repeat for both")
    p.add_argument("--labels", metavar="DATA", help="take labels from this project, folder or CSV")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="a JSON object on the last line")
    p.set_defaults(handler=cmd_cluster)


class UnsupervisedPrinter(TrainingPrinter):
    """Progress bars plus one line per finished epoch of either phase."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, MetricLogged) and event.name == "pretrain_val_mse":
            self.stream.write(f"\rpretraining epoch {event.step}: validation MSE {event.value:.5f}\n")
        elif isinstance(event, MetricLogged) and event.name == "val_accuracy":
            self.stream.write(f"\rjoint epoch {event.step}: encoder+head validation accuracy {event.value:.4f}")
        elif isinstance(event, MetricLogged) and event.name == "homogeneity":
            self.stream.write(f", synthetic mean pairwise distance {event.value:.3f}\n")
        else:
            super().__call__(event)
            return
        self.stream.flush()


def _unsupervised_config(args: argparse.Namespace) -> UnsupervisedConfig:
    from galaxy_studio.model.errors import ModelError

    chosen = {"samples": args.samples, "hidden": args.hidden, "size": args.size, "crop_fraction": args.crop,
              "batch_size": args.batch_size, "lr": args.lr, "lr_syn": args.lr_syn,
              "pretrain_epochs": args.pretrain_epochs, "patience": args.patience, "epochs": args.epochs,
              "warmup_epochs": args.warmup_epochs, "l_cls": args.l_cls, "l_rec": args.l_rec, "l_grad": args.l_grad,
              "l_div": args.l_div, "l_real_rec": args.l_real_rec, "l_repel": args.l_repel,
              "fresh_nets": args.fresh_nets, "fresh_epochs": args.fresh_epochs, "seed": args.seed,
              "device": args.device}
    overrides: dict[str, Any] = {key: value for key, value in chosen.items() if value is not None}
    if args.anti_collapse:
        overrides.setdefault("l_real_rec", ANTI_COLLAPSE_REAL_RECONSTRUCTION)
        overrides.setdefault("l_repel", ANTI_COLLAPSE_REPULSION)
    try:
        return UnsupervisedConfig(data=args.data, out_dir=args.out, tied=args.tied, colour=args.colour, **overrides)
    except ModelError as error:
        raise CommandError(str(error)) from None


def cmd_distill_unsupervised(args: argparse.Namespace) -> int:
    from galaxy_studio.distill.unsupervised import distill_unsupervised

    config = _unsupervised_config(args)
    result = _model_errors(lambda: distill_unsupervised(config, emit=UnsupervisedPrinter()),
                           f"the last finished epoch is saved in {args.out}; run the same command to resume")
    counts = ", ".join(f"{name}: {count}" for name, count in zip(result.classes, result.predicted_counts))
    print(f"encoder+head accuracy (trained jointly on all real training images): validation "
          f"{result.joint_val_accuracy:.4f}, test {result.joint_test_accuracy:.4f}\n"
          f"fresh nets trained only on the {config.samples} synthetic samples (head-predicted labels): test "
          f"{result.fresh_test_accuracy:.4f} +- {result.fresh_test_std:.4f}\n"
          f"fresh nets trained on {config.samples} random real images (true labels): test "
          f"{result.random_real_test_accuracy:.4f} +- {result.random_real_test_std:.4f}\n"
          f"mean pairwise distance: synthetic {result.homogeneity:.3f}, at start {result.initial_homogeneity:.3f}, "
          f"random real {result.random_real_homogeneity:.3f}\n"
          f"synthetic samples per predicted class: {counts}\n"
          f"samples: {result.samples_png}", file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps({**result.to_dict(), "seconds": round(result.seconds, 1)}), flush=True)
    return 0


def _add_unsupervised_commands(sub: Any) -> None:
    defaults = UnsupervisedConfig(data="", out_dir="")
    p = sub.add_parser(
        "distill-unsupervised", help="distil images into unlabelled synthetic samples with an autoencoder (seed 002)",
        description="Pretrain a shallow dense autoencoder on DATA (MNIST IDX files or folder, or labelled galaxy "
        "cutouts), then train encoder, a linear head and N synthetic samples together with classification, "
        "reconstruction, gradient-penalty and diversity terms. Reports the jointly trained encoder+head accuracy, "
        "the test accuracy of fresh nets trained only on the synthetic samples (labelled by the head), and the "
        "samples' mean pairwise distance (homogeneity). Writes RUN_DIR/samples.png, synthetic.npz and "
        "result.json; running the same command again resumes an interrupted run.",
    )
    p.add_argument("data", metavar="DATA", help="IDX folder or images file, or project, folder per class, CSV, HDF5")
    p.add_argument("--samples", type=int, help=f"synthetic samples (default {defaults.samples})")
    p.add_argument("--out", required=True, metavar="RUN_DIR")
    p.add_argument("--json", action="store_true", help="a JSON summary on the last line")
    p.add_argument("--hidden", type=int, help=f"autoencoder features (default {defaults.hidden})")
    p.add_argument("--tied", action="store_true", help="decoder uses the encoder's transposed weights")
    p.add_argument("--size", type=int, metavar="PX", help=f"galaxy data: image side (default {defaults.size})")
    p.add_argument("--crop", type=float, metavar="FRACTION",
                   help=f"galaxy data: central fraction kept (default {defaults.crop_fraction})")
    p.add_argument("--colour", action="store_true", help="galaxy data: keep RGB instead of grey")
    p.add_argument("--batch-size", type=int, help=f"default {defaults.batch_size}")
    p.add_argument("--lr", type=float, help=f"Adam learning rate of the networks (default {defaults.lr:g})")
    p.add_argument("--lr-syn", type=float, help=f"Adam learning rate of the samples (default {defaults.lr_syn:g})")
    p.add_argument("--pretrain-epochs", type=int, help=f"at most (default {defaults.pretrain_epochs})")
    p.add_argument("--patience", type=int, help=f"pretraining early stopping (default {defaults.patience})")
    p.add_argument("--epochs", type=int, help=f"joint epochs (default {defaults.epochs})")
    p.add_argument("--warmup-epochs", type=int,
                   help=f"reconstruction/diversity weights ramp up over these (default {defaults.warmup_epochs})")
    p.add_argument("--l-cls", type=float, help=f"classification weight (default {defaults.l_cls:g})")
    p.add_argument("--l-rec", type=float, help=f"synthetic reconstruction weight (default {defaults.l_rec:g})")
    p.add_argument("--l-grad", type=float, help=f"gradient penalty weight (default {defaults.l_grad:g})")
    p.add_argument("--l-div", type=float, help=f"diversity weight (default {defaults.l_div:g})")
    p.add_argument("--anti-collapse", action="store_true",
                   help=f"counter-measure against collapse: also reconstruct the real batch (weight "
                   f"{ANTI_COLLAPSE_REAL_RECONSTRUCTION:g}) and repel nearest neighbours among the samples "
                   f"(weight {ANTI_COLLAPSE_REPULSION:g})")
    p.add_argument("--l-real-rec", type=float, help="real reconstruction weight (default 0; --anti-collapse sets it)")
    p.add_argument("--l-repel", type=float, help="nearest-neighbour repulsion weight (default 0; --anti-collapse sets it)")
    p.add_argument("--fresh-nets", type=int, help=f"fresh nets per evaluation (default {defaults.fresh_nets})")
    p.add_argument("--fresh-epochs", type=int, help=f"their full-batch steps (default {defaults.fresh_epochs})")
    p.add_argument("--seed", type=int, help=f"default {defaults.seed}")
    p.add_argument("--device", choices=DEVICES)
    p.set_defaults(handler=cmd_distill_unsupervised)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Galaxy Studio: view, label, train on, distill and classify galaxy cutouts. "
        "Without a command the desktop application opens.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo set (created once)")
    parser.add_argument("--screenshot", metavar="OUT.png", help="open the window, wait for the thumbnails, save a grab and exit")
    parser.add_argument("--self-test", action="store_true",
                        help="check that this installation works (torch, torchvision operators, FITS, window); "
                        "one line per check, exit 0 only if all pass")
    parser.add_argument("--panel", choices=("library", "train", "distill", "classify", "explore"), default="library",
                        help="the tab to open; with --demo, distill runs a short live distillation of the demo set "
                        "and explore embeds and maps it")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("open", help="open files, folders, HDF5 or CSV catalogues in the GUI")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(handler=cmd_open)

    p = sub.add_parser("inspect", help="describe cutout files (one line or JSON object per file)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=cmd_inspect)

    p = sub.add_parser("render", help="render a cutout to PNG/JPEG with an astronomical stretch")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--stretch", choices=("linear", "sqrt", "log", "asinh", "histeq"))
    p.add_argument("--interval", choices=("minmax", "99.5%", "99%", "95%", "zscale"))
    p.add_argument("--composite", choices=("per-band", "lupton"), default="per-band")
    p.add_argument("--bands", help="band indices: one (grey) or three for R,G,B, e.g. 2,1,0")
    p.add_argument("--hdu", help="FITS HDU index or EXTNAME (default: first image, bands combined)")
    link = p.add_mutually_exclusive_group()
    link.add_argument("--linked", dest="linked", action="store_true", default=None, help="one interval for all bands")
    link.add_argument("--per-band", dest="linked", action="store_false", help="an interval per band")
    p.add_argument("--invert", action="store_true")
    p.add_argument("--size", type=int, help="fit into a SIZE x SIZE square")
    p.add_argument("--out", required=True, metavar="OUT.png")
    p.set_defaults(handler=cmd_render)

    p = sub.add_parser("demo-data", help="write procedural demo galaxies, a folder per class")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--size", type=int, default=128, metavar="PX")
    p.add_argument("--format", choices=("jpeg", "fits"), default="jpeg")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_demo_data)

    _add_project_commands(sub)
    _add_model_commands(sub)
    _add_distill_commands(sub)
    _add_explore_commands(sub)
    _add_unsupervised_commands(sub)
    return parser


def _print_error(text: str) -> None:
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.self_test:
            from galaxy_studio.self_test import self_test

            return self_test()
        if args.command is None:
            return _run_gui(args)
        return args.handler(args)
    except (CommandError, CutoutError) as error:
        _print_error(str(error))
        return 1
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
