"""`project ...`: labelling projects from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from galaxy_studio.cli.errors import (
    PROG,
    CommandError,
    print_error,
    reporting_project_errors,
)
from galaxy_studio.cli.progress import ProgressPrinter, add_quiet_option
from galaxy_studio.count_text import counted
from galaxy_studio.data.tables import TABLE_FORMATS
from galaxy_studio.model.config import DEVICES


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


def _class_map(args: argparse.Namespace) -> dict[str, str]:
    """--map NAME=CLASS pairs and --skip NAMEs as one mapping (a skipped name maps to "")."""
    mapping = dict(_pairs(args.map, "--map"))
    for name in getattr(args, "skip", None) or []:
        mapping[name.strip()] = ""
    return mapping


def _remember(project: Any, mapping: dict[str, str], *, quiet: bool = False) -> None:
    """Store the mapping the user gave, so the next add, import or suggestion reads the same
    names the same way without --map."""
    aliases = {outside: inside for outside, inside in mapping.items() if outside not in project.classes}
    if aliases and not project.read_only:
        project.set_class_aliases(aliases)
        if not quiet:
            print(
                f"remembered {counted(len(aliases), 'class mapping')} in {project.path} (see `{PROG} project mapping`)"
            )


def _add_mapping_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--map",
        action="extend",
        nargs="+",
        metavar="NAME=CLASS",
        help=f"read {what} NAME as the project's CLASS (several pairs, or repeat the flag); remembered in the "
        "project; names that differ from a class only in case, _/-/space or a plural s are matched without it",
    )
    parser.add_argument(
        "--skip",
        action="append",
        metavar="NAME",
        help=f"take no labels of {what} NAME (counted as skipped; remembered in the project; repeat)",
    )


@reporting_project_errors
def cmd_project_new(args: argparse.Namespace) -> int:
    from galaxy_studio.labels.schemes import resolve_scheme
    from galaxy_studio.labels.store import Project

    scheme = resolve_scheme(args.scheme)
    with Project.create(Path(args.project), scheme) as project:
        classes = project.classes
    print(f"created {args.project}: scheme {scheme.name}, {len(classes)} classes ({', '.join(classes)})")
    return 0


@reporting_project_errors
def cmd_project_add(args: argparse.Namespace) -> int:
    import os

    mapping = _class_map(args)
    with _open_project(args.project) as project:
        with ProgressPrinter(quiet=args.quiet) as emit:
            result = project.add_paths(args.paths, renames=mapping, emit=emit)
        total = project.image_count()
        _remember(project, mapping)
    named = {os.path.abspath(path) for path in args.paths}
    failed = [entry for entry in result.skipped if os.path.abspath(entry[0]) in named]
    for path, reason in failed:
        print_error(f"{path}: {reason}")
    _print_skipped([entry for entry in result.skipped if entry not in failed])
    print(f"added {counted(result.added, 'image')} to {args.project} ({total} in all)")
    counts = result.counts
    if counts.taken or counts.unmapped or counts.skipped:
        print("labels: " + counts.describe())
    return 1 if failed else 0


@reporting_project_errors
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


@reporting_project_errors
def cmd_project_import(args: argparse.Namespace) -> int:
    from galaxy_studio.labels import exchange

    fmt = _import_format(args)
    renames = _class_map(args)
    with _open_project(args.project) as project, ProgressPrinter(quiet=args.quiet) as emit:
        if fmt == "gz-votes":
            answers = _pairs(args.answer, "--answer")
            if not answers:
                raise CommandError("--format gz-votes needs at least one --answer COLUMN=CLASS")
            report = exchange.import_gz_votes(
                project,
                args.file,
                answers,
                threshold=args.threshold,
                images=args.images,
                id_map=args.id_map,
                labeller=args.labeller,
                emit=emit,
            )
        else:
            importer = {
                "csv": exchange.import_csv,
                "json": exchange.import_json,
                "folders": exchange.import_folders,
                "galaxy10": exchange.import_galaxy10,
            }[fmt]
            report = importer(project, args.file, labeller=args.labeller, renames=renames, emit=emit)
            _remember(project, renames, quiet=args.json)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        _print_skipped(report.skipped)
        print(report.summary())
    return 1 if report.labels == 0 and report.skipped else 0


@reporting_project_errors
def cmd_project_export(args: argparse.Namespace) -> int:
    from galaxy_studio.labels import exchange

    with _open_project(args.project) as project, ProgressPrinter(quiet=args.quiet) as emit:
        if args.format in TABLE_FORMATS:
            report = exchange.export_table(
                project, args.out, fmt=args.format, labeller=args.labeller, consensus=args.consensus
            )
        elif args.format == "json":
            report = exchange.export_json(project, args.out, labeller=args.labeller, consensus=args.consensus)
        elif args.format == "folders":
            report = exchange.export_folders(project, args.out, labeller=args.labeller, link=args.link, emit=emit)
        else:
            report = exchange.export_galaxy10(project, args.out, labeller=args.labeller, emit=emit)
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
        lines.append(
            f"agreement      {stats.agreement:.1%} of {stats.multiply_labelled} images with two or more labellers"
        )
    lines.append("suggestions    " + _describe_suggestions(_suggestion_counts(project)))
    return "\n".join(lines)


def _suggestion_counts(project: Any) -> dict[str, Any]:
    """The stored suggestions (`project suggest`): how many still wait for a label, how many
    of their images have one since, and which models made them."""
    suggestions = project.suggestions()
    labelled = project.counted_labels().keys()
    waiting = sum(1 for image_id in suggestions if image_id not in labelled)
    sources = sorted({suggestion.source for suggestion in suggestions.values()})
    return {"waiting": waiting, "labelled_since": len(suggestions) - waiting, "sources": sources}


def _describe_suggestions(counts: dict[str, Any]) -> str:
    if not counts["sources"]:
        return "none (project suggest P.gsproj MODEL stores a model's, most uncertain first)"
    return (
        f"{counts['waiting']} waiting for a label, {counts['labelled_since']} labelled since"
        f" (from {', '.join(counts['sources'])})"
    )


@reporting_project_errors
def cmd_project_stats(args: argparse.Namespace) -> int:
    with _open_project(args.project) as project:
        stats = project.stats()
        if args.json:
            print(
                json.dumps(
                    {
                        "project": str(project.path),
                        "scheme": project.scheme_name,
                        **stats.to_json(),
                        "suggestions": _suggestion_counts(project),
                    }
                )
            )
        else:
            print(_describe_stats(project, stats))
    return 0


@reporting_project_errors
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


@reporting_project_errors
def cmd_project_relink(args: argparse.Namespace) -> int:
    with _open_project(args.project) as project:
        relinked = project.relink([Path(folder) for folder in args.folders] or None)
        missing = project.refresh_missing()
    print(f"relinked {counted(relinked, 'image')}; {missing} still missing")
    return 1 if missing else 0


@reporting_project_errors
def cmd_project_suggest(args: argparse.Namespace) -> int:
    from galaxy_studio.model.errors import ModelError
    from galaxy_studio.model.suggestions import SuggestConfig, suggest_labels

    mapping = _class_map(args)
    config = SuggestConfig(args.project, args.model, tta=args.tta, device=args.device, class_map=mapping)
    try:
        with ProgressPrinter(quiet=args.quiet) as emit:
            result = suggest_labels(config, emit=emit)
    except ModelError as error:
        raise CommandError(str(error)) from None
    if mapping:
        with _open_project(args.project) as project:
            _remember(project, mapping)
    print(f"stored {counted(result.stored, 'suggestion')} from {result.model} in {args.project}")
    print("suggestions: " + result.counts.describe("suggestion"))
    if result.ranked:
        print("most uncertain (entropy, confidence, suggested class, image):")
    for name, suggestion in result.ranked[:10]:
        print(f"  {suggestion.entropy:.4f}  {suggestion.confidence:.3f}  {suggestion.class_name}  {name}")
    for _name, reason in result.failures:
        print_error(reason)
    return 1 if result.failures else 0


@reporting_project_errors
def cmd_project_mapping(args: argparse.Namespace) -> int:
    """See or edit the class mapping stored in the project."""
    mapping = _class_map(args)
    with _open_project(args.project) as project:
        if mapping:
            project.set_class_aliases(mapping)
        forgotten = project.forget_class_aliases(args.forget) if args.forget else 0
        aliases = project.class_aliases()
        classes = project.classes
    if args.json:
        print(json.dumps({"project": args.project, "classes": classes, "aliases": aliases}))
        return 0
    if forgotten:
        print(f"forgot {counted(forgotten, 'mapping')}")
    if not aliases:
        print(f"{args.project}: no stored class mapping (names that match a class need none)")
    width = max((len(name) for name in aliases), default=0)
    for outside, inside in aliases.items():
        print(f"  {outside:<{width}}  -> {inside or '(skip)'}")
    return 0


def add_commands(sub: Any) -> None:
    project = sub.add_parser(
        "project", help="labelling projects: create, add images, label, import, export, stats, suggest"
    )
    actions = project.add_subparsers(dest="project_command", metavar="ACTION", required=True)

    p = actions.add_parser("new", help="create a project file (*.gsproj) with a class scheme")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument(
        "--scheme",
        required=True,
        metavar="SCHEME",
        help="galaxy10, gz2-9, spiral, a CSV file with one class name per row, or a folder of class "
        "folders (its sub-folder names become the classes)",
    )
    p.set_defaults(handler=cmd_project_new)

    p = actions.add_parser("add", help="add images: files, folders, Galaxy10 HDF5, CSV lists")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _add_mapping_options(p, "class folder or label")
    add_quiet_option(p)
    p.set_defaults(handler=cmd_project_add)

    p = actions.add_parser("label", help="label one image; exits 0 only once the label is on disk")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("image", metavar="IMAGE_PATH")
    p.add_argument("class_name", metavar="CLASS")
    p.add_argument("--index", type=int, help="row of a Galaxy10 HDF5 file")
    p.add_argument(
        "--labeller", metavar="NAME", help="default: $GALAXY_STUDIO_LABELLER, the saved setting, or your user name"
    )
    p.set_defaults(handler=cmd_project_label)

    p = actions.add_parser(
        "import",
        help="import labels: CSV (or ECSV, FITS, VOTable), JSON, class folders, Galaxy10 HDF5, Galaxy Zoo votes",
    )
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--format",
        choices=("csv", "json", "folders", "galaxy10", "gz-votes"),
        help="default: from FILE (folder, .h5, .json; gz-votes when --answer is given; else csv). csv and gz-votes "
        "also read ECSV, FITS and VOTable tables, known by their names (.ecsv .fits/.fit .xml/.vot/.votable)",
    )
    p.add_argument(
        "--answer",
        action="append",
        metavar="COLUMN=CLASS",
        help="gz-votes: an answer column standing for a class (repeat)",
    )
    p.add_argument("--threshold", type=float, default=0.5, help="gz-votes: smallest winning fraction (default 0.5)")
    p.add_argument("--images", metavar="DIR", help="gz-votes: where the images are (default: FILE's folder)")
    p.add_argument("--id-map", metavar="CSV", help="gz-votes: CSV mapping the table's ids to image file names")
    _add_mapping_options(p, "class")
    p.add_argument("--labeller", metavar="NAME", help="labeller of the imported labels (default: FILE's name)")
    p.add_argument("--json", action="store_true", help="print the report (counts, mapped, skipped) as one JSON object")
    add_quiet_option(p)
    p.set_defaults(handler=cmd_project_import)

    p = actions.add_parser(
        "export", help="export labels: a table (CSV, ECSV, FITS, VOTable), JSON, class folders, Galaxy10-layout HDF5"
    )
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument(
        "--format",
        required=True,
        choices=(*TABLE_FORMATS, "json", "folders", "galaxy10"),
        help="csv, ecsv, fits and votable write the same columns (ECSV, FITS and VOTable with their descriptions)",
    )
    p.add_argument("out", metavar="OUT")
    p.add_argument(
        "--labeller",
        metavar="NAME",
        help="only this labeller's labels (default: all for tables and JSON, else the consensus)",
    )
    p.add_argument("--consensus", action="store_true", help="tables and json: one consensus label per image")
    p.add_argument("--link", action="store_true", help="folders: symbolic links instead of copies")
    add_quiet_option(p)
    p.set_defaults(handler=cmd_project_export)

    p = actions.add_parser("stats", help="images, labelled, per-class counts, labellers, agreement, suggestions")
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
    _add_mapping_options(p, "the model's class")
    add_quiet_option(p)
    p.set_defaults(handler=cmd_project_suggest)

    p = actions.add_parser("mapping", help="see or edit the stored class mapping (outside names -> project classes)")
    p.add_argument("project", metavar="P.gsproj")
    _add_mapping_options(p, "outside name")
    p.add_argument("--forget", action="append", metavar="NAME", help="forget the stored mapping of NAME (repeat)")
    p.add_argument("--json", action="store_true", help="print the classes and the mapping as one JSON object")
    p.set_defaults(handler=cmd_project_mapping)

    p = actions.add_parser("relink", help="find moved images again by content")
    p.add_argument("project", metavar="P.gsproj")
    p.add_argument("folders", nargs="*", metavar="DIR", help="where to look (default: the project's folder)")
    p.set_defaults(handler=cmd_project_relink)
