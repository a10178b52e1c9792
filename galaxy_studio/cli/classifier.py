"""Classifier commands: train, evaluate, classify."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from galaxy_studio.cli.errors import (
    CommandError,
    model_errors,
    print_error,
    print_warning,
    require_writable_output,
    write_result_table,
)
from galaxy_studio.cli.options import add_setting_options, add_table_format_option, config_from_args
from galaxy_studio.cli.progress import CrossValidationPrinter, ProgressPrinter, TrainingPrinter, add_quiet_option
from galaxy_studio.count_text import counted
from galaxy_studio.distributed import launched_ranks
from galaxy_studio.model.config import DEVICES, EXPLANATION_METHODS, SURVEY_CHUNK_ITEMS, TrainConfig
from galaxy_studio.model.uncertainty import AccuracyEstimate

if TYPE_CHECKING:
    from galaxy_studio.model.cross_validation_results import CrossValidationResult


def _fold_count(text: str) -> int:
    folds = int(text)
    if folds < 2:
        raise argparse.ArgumentTypeError(f"cross-validation needs at least 2 folds, got {folds}")
    return folds


def _train_config(args: argparse.Namespace) -> TrainConfig:
    """The run's config; without --out, a new folder that rank 0 names for every rank (their
    clocks may tick over to another second's name in between)."""
    from galaxy_studio.distributed import broadcast_from_leader, current_ranks
    from galaxy_studio.model.runs import new_run_dir

    stem = (args.arch or TrainConfig.arch) + ("-cv" if args.cv is not None else "")
    out = args.out or broadcast_from_leader(str(new_run_dir(stem)) if current_ranks().leader else None)
    return config_from_args(TrainConfig, args, data=args.data, out_dir=str(out))


def _refuse_several_runs(args: argparse.Namespace) -> None:
    """--cv and --estimate are one process's work: the ranks share the batches of one run."""
    from galaxy_studio.distributed import current_ranks

    ranks = current_ranks()
    for flag, given in (("--cv", args.cv is not None), ("--estimate", args.estimate)):
        if given and ranks.several:
            raise CommandError(
                f"train {flag} runs in one process, not as {ranks.world} processes under torchrun; "
                f"start it without torchrun (several processes train one run, without {flag})"
            )


def cmd_train(args: argparse.Namespace) -> int:
    from galaxy_studio.distributed import current_ranks
    from galaxy_studio.model.errors import ModelError
    from galaxy_studio.model.training import train_classifier

    _refuse_several_runs(args)
    config = _train_config(args)
    if args.estimate:
        return _print_estimate(config, args.cv, quiet=args.quiet)
    if args.cv is not None:
        return _cross_validate(config, args.cv, quiet=args.quiet)
    from galaxy_studio.events import ignore

    leader = current_ranks().leader
    try:
        with TrainingPrinter(quiet=args.quiet) as printer:
            # Under torchrun rank 0 speaks for all: the others' warnings would repeat its own.
            result = train_classifier(config, emit=printer if leader else ignore)
    except ModelError as error:
        raise CommandError(str(error)) from None
    except KeyboardInterrupt:
        print_error(f"the last finished epoch is saved in {config.out_dir}; run the same command to resume")
        raise
    if not leader:
        return 0
    metrics = result.metrics
    auc = "n/a" if metrics.get("macro_auc") is None else f"{metrics['macro_auc']:.4f}"
    print(
        f"{result.checkpoint}: test accuracy {AccuracyEstimate.of(metrics).text()}, macro AUC {auc}; "
        f"best epoch {result.best_epoch} of {result.epochs_run}",
        file=sys.stderr,
    )
    from galaxy_studio.model.calibration import describe_calibration

    calibration = describe_calibration(metrics)
    if calibration is not None:
        print(f"{result.checkpoint}: {calibration}", file=sys.stderr)
    record = {
        **metrics,
        "run_dir": result.run_dir,
        "checkpoint": result.checkpoint,
        "seconds": round(result.seconds, 1),
    }
    print(json.dumps(record), flush=True)
    return 0


def _print_estimate(config: TrainConfig, folds: int | None, *, quiet: bool) -> int:
    """`train --estimate`: the time the run (with --cv, each fold's run) would take here, then
    what was timed; trains nothing."""
    from galaxy_studio.eta import format_duration
    from galaxy_studio.model.errors import ModelError
    from galaxy_studio.model.training import estimate_training_time

    try:
        with ProgressPrinter(quiet=quiet) as emit:
            estimate = estimate_training_time(config if folds is None else replace(config, fold=(1, folds)), emit=emit)
    except ModelError as error:
        raise CommandError(str(error)) from None
    print(estimate.text())
    if folds is not None:
        print(f"Cross-validation trains {folds} such runs: about {format_duration(folds * estimate.total_seconds)}.")
    print(f"Measured: {estimate.measured}.")
    return 0


def _cross_validate(config: TrainConfig, folds: int, *, quiet: bool) -> int:
    """`train --cv K`: K-fold cross-validation; a table on stderr, the cv.json record on stdout."""
    from galaxy_studio.model.cross_validation import cross_validate
    from galaxy_studio.model.cross_validation_results import CV_FILE

    with CrossValidationPrinter(quiet=quiet) as emit:
        result = model_errors(
            lambda: cross_validate(config, folds, emit=emit),
            f"finished folds and the last finished epoch are saved in {config.out_dir}; run the same command to "
            "continue",
        )
    print(describe_cross_validation(result), file=sys.stderr)
    record = {
        **result.to_dict(),
        "run_dir": result.run_dir,
        "cv_file": str(Path(result.run_dir) / CV_FILE),
        "seconds": round(result.seconds, 1),
    }
    print(json.dumps(record), flush=True)
    return 0


def describe_cross_validation(result: CrossValidationResult) -> str:
    """Each fold's test metrics in a row, then their mean ± standard deviation."""
    header = f"{'fold':>4}  {'images':>6}  {'accuracy':>15}  {'balanced acc.':>15}  {'macro AUC':>15}  best epoch"
    lines = [f"{result.k}-fold cross-validation of {result.images} images ({result.run_dir}):", header]
    summary = result.summary
    for fold in result.folds:
        values = [fold.metrics.get(name) for name in summary]
        cells = "  ".join(f"{'n/a' if value is None else f'{value:.4f}':>15}" for value in values)
        lines.append(f"{fold.fold:>4}  {fold.metrics.get('n', 0):>6}  {cells}  {fold.best_epoch} of {fold.epochs_run}")
    cells = "  ".join(f"{'n/a' if value is None else value.text():>15}" for value in summary.values())
    lines.append(f"{'mean ± std':>12}  {cells}")
    return "\n".join(lines)


def _describe_metrics(report: dict[str, Any]) -> str:
    from galaxy_studio.model.calibration import describe_calibration

    classes = report["classes"]
    width = max(len(name) for name in [*classes, "class"])
    auc = "n/a" if report["macro_auc"] is None else f"{report['macro_auc']:.4f}"
    lines = [
        f"{report['n']} images: accuracy {report['accuracy']:.4f}, balanced accuracy "
        f"{report['balanced_accuracy']:.4f}, macro one-vs-rest ROC AUC {auc}",
        f"accuracy {AccuracyEstimate.of(report).text()} (Wilson 95% interval)",
        *filter(None, [describe_calibration(report)]),
        *(f"warning: {warning}" for warning in report.get("warnings", [])),
        "confusion matrix (rows: true class, columns: predicted class by number):",
        " " * width + "".join(f" {index:>7}" for index in range(len(classes))),
    ]
    for index, (name, row) in enumerate(zip(classes, report["confusion"])):
        lines.append(f"{name:<{width}}" + "".join(f" {count:>7}" for count in row) + f"   ({index})")
    lines.append(f"{'class':<{width}} precision  recall  support  recall 95% CI")
    for name in classes:
        stats = report["per_class"][name]
        precision = "-" if stats["precision"] is None else f"{stats['precision']:.3f}"
        recall = "-" if stats["recall"] is None else f"{stats['recall']:.3f}"
        interval = stats.get("recall_ci95")
        spread = "-" if interval is None else f"{interval[0]:.3f}-{interval[1]:.3f}"
        lines.append(f"{name:<{width}} {precision:>9} {recall:>7} {stats['support']:>8}  {spread:>13}")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from galaxy_studio.model.errors import ModelError
    from galaxy_studio.model.evaluation import evaluate_classifier, evaluation_table

    if args.out:
        require_writable_output(args.out)
    try:
        with TrainingPrinter(quiet=args.quiet) as emit:
            report = evaluate_classifier(args.model, args.data, split=args.split, device=args.device, emit=emit)
    except ModelError as error:
        raise CommandError(str(error)) from None
    if report["n"] == 0:
        raise CommandError(f"{args.data}: no image could be read")
    if args.json:
        for warning in report["warnings"]:
            print_warning(warning)
    print(json.dumps(report) if args.json else _describe_metrics(report), flush=True)
    if args.out:
        write_result_table(evaluation_table(report), args.out, args.table_format, "the evaluation")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    """Without --saliency the survey path: streamed, chunked, resumable and shardable over
    torchrun's processes. --saliency keeps every prediction for its overlays, so it runs the
    in-memory path in one process."""
    if args.saliency is None:
        return _classify_survey(args)
    if launched_ranks().several:
        raise CommandError("--saliency runs in one process; start classify with --saliency without torchrun")
    from galaxy_studio.model.classification import (
        ClassifyConfig,
        classify,
        write_predictions,
    )
    from galaxy_studio.model.errors import ModelError

    require_writable_output(args.out)
    try:
        config = ClassifyConfig(
            args.model,
            tuple(args.paths),
            tta=args.tta,
            batch_size=args.batch_size,
            device=args.device,
            saliency=args.saliency,
            saliency_dir=args.saliency_dir,
        )
        # The inputs left out are printed once, as errors, after the run.
        with ProgressPrinter(quiet=args.quiet, left_out_at_end=True) as emit:
            result = classify(config, emit=emit)
        if result.predictions:
            write_predictions(result, args.out, fmt=args.table_format)
    except ModelError as error:
        raise CommandError(str(error)) from None
    for _name, reason in result.failures:
        print_error(reason)
    if not result.predictions:
        raise CommandError("no cutout could be classified; nothing was written")
    for _name, reason in result.overlay_failures:
        print_error(reason)
    failures = len(result.failures) + len(result.overlay_failures)
    rate = len(result.predictions) / result.seconds if result.seconds > 0 else 0.0
    print(
        f"{args.out}: {counted(len(result.predictions), 'cutout')} classified ({rate:.0f}/s), "
        f"{len(result.failures)} left out"
    )
    unfamiliar = sum(prediction.unfamiliar for prediction in result.predictions)
    if unfamiliar:
        print(
            f"{unfamiliar} of {len(result.predictions)} inputs look unlike the training data "
            "(see the unfamiliar and warnings columns)"
        )
    return 1 if failures else 0


def _classify_survey(args: argparse.Namespace) -> int:
    from galaxy_studio.events import Event, LeftOut
    from galaxy_studio.model.survey_classification import SurveyConfig, classify_survey

    require_writable_output(args.out)
    config = SurveyConfig(
        args.model,
        tuple(args.paths),
        args.out,
        fmt=args.table_format,
        tta=args.tta,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        device=args.device,
    )
    with ProgressPrinter(quiet=args.quiet) as printer:

        def emit(event: Event) -> None:
            if isinstance(event, LeftOut):
                print_error(event.text)
            else:
                printer(event)

        result = model_errors(
            lambda: classify_survey(config, emit=emit),
            "finished chunks are kept beside the output; run the same command to resume",
        )
    ranks = launched_ranks()
    if not ranks.leader:
        return 1 if result.left_out else 0
    if not result.classified:
        raise CommandError("no cutout could be classified; nothing was written")
    rate = result.classified / result.seconds if result.seconds > 0 else 0.0
    reused = ""
    if result.reused_chunks and not ranks.several:
        reused = f", {result.reused_chunks} of {counted(result.chunks, 'chunk')} from the interrupted run"
    print(
        f"{args.out}: {counted(result.classified, 'cutout')} classified ({rate:.0f}/s), "
        f"{result.left_out} left out{reused}"
    )
    if result.unfamiliar:
        print(
            f"{result.unfamiliar} of {result.classified} inputs look unlike the training data "
            "(see the unfamiliar and warnings columns)"
        )
    if not args.quiet:
        timing = result.timing
        print(
            f"time: {timing.decode_seconds:.1f} s decoding (summed over threads), {timing.network_seconds:.1f} s in "
            f"the network{' (this process)' if ranks.several else ''}",
            file=sys.stderr,
        )
    return 1 if result.left_out else 0


def _chunk_size(text: str) -> int:
    size = int(text)
    if size < 1:
        raise argparse.ArgumentTypeError(f"a chunk holds at least 1 input, got {size}")
    return size


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier on labelled images; final metrics as JSON on the last line",
        description="Train a classifier on DATA: a labelled project (*.gsproj), a folder with a "
        "sub-folder per class, a CSV with a label column, or a Galaxy10 HDF5 file. The data is "
        "split 70/15/15 (seeded, stratified by class); the test split is scored with the weights "
        "of the best validation epoch (--keep). RUN_DIR/model.pt is the checkpoint; running the same "
        "command again resumes an interrupted run. Under torchrun the processes share each batch "
        "(DistributedDataParallel) and rank 0 writes the run.",
    )
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: a new folder in the app's runs folder)")
    p.add_argument(
        "--estimate",
        action="store_true",
        help="print how long the run would take on this device (timing reading a sample of the images, "
        "a few training steps and validation) and train nothing",
    )
    p.add_argument(
        "--cv",
        type=_fold_count,
        metavar="K",
        help="stratified K-fold cross-validation instead of one run: fold i tests on the i-th of K folds and "
        "trains and validates on the rest (in RUN_DIR/fold_i); prints the mean ± std of accuracy, balanced "
        "accuracy and macro AUC over the folds and writes RUN_DIR/cv.json",
    )
    add_setting_options(p, TrainConfig)
    add_quiet_option(p)
    p.set_defaults(handler=cmd_train, distributed=True)

    p = sub.add_parser("evaluate", help="score a trained classifier on labelled images")
    p.add_argument("model", metavar="MODEL", help="a checkpoint (RUN_DIR/model.pt)")
    p.add_argument("data", metavar="DATA", help="labelled images: project, folder per class, CSV or HDF5")
    p.add_argument(
        "--split",
        choices=("all", "test"),
        default="all",
        help="all labelled images, or the test split of the run that made MODEL (same DATA)",
    )
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument(
        "--out",
        metavar="TABLE",
        help="also write the per-class scores and confusion counts as a table (.csv .ecsv .fits .xml/.vot)",
    )
    add_table_format_option(p)
    add_quiet_option(p)
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser(
        "classify",
        help="classify cutouts with a trained model into a table: CSV, ECSV, FITS or VOTable (optionally with "
        "saliency overlays)",
        description="Classify every cutout under PATH (files, folders, catalogues as CSV, ECSV, FITS or VOTable "
        "tables, Galaxy10 HDF5) with MODEL, applying the preprocessing the model was trained with. The table "
        "has the columns path, predicted, confidence, entropy, p_<class> per class, then ood_score, ood_percentile "
        "(among the validation galaxies), unfamiliar (yes when the input looks unlike the training data) "
        "and warnings (how it differs: bands, format, pixel scale, brightness), then ra and dec (ICRS degrees: "
        "the catalogue's, else the centre of a FITS file's WCS; empty when unknown). The table is CSV, ECSV, FITS "
        "or VOTable by the name of --out (.csv .ecsv .fits .xml/.vot) or by --format, with units and column "
        "descriptions in all but CSV. Unreadable files are reported and the rest proceed (exit 1 if any was left out).",
    )
    p.add_argument("model", metavar="MODEL", help="a finished run folder or its model.pt")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", required=True, metavar="predictions.csv")
    add_table_format_option(p, extra=("parquet",))
    p.add_argument(
        "--chunk-size",
        type=_chunk_size,
        default=SURVEY_CHUNK_ITEMS,
        metavar="N",
        help=f"inputs per chunk (default {SURVEY_CHUNK_ITEMS}): finished chunks are kept in .NAME.parts/ beside "
        "the output, so an interrupted run of the same command resumes; under torchrun chunk k is classified "
        "by process k mod N",
    )
    p.add_argument("--tta", action="store_true", help="average over the 8 rotations and mirror images")
    p.add_argument(
        "--saliency",
        choices=EXPLANATION_METHODS,
        help="also write one PNG per input: this explanation of the predicted class over the cutout",
    )
    p.add_argument("--saliency-dir", metavar="DIR", help="folder for the --saliency overlays")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", choices=DEVICES, default="auto")
    add_quiet_option(p)
    p.set_defaults(handler=cmd_classify, distributed=True)
