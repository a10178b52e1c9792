"""Distillation commands: buffer (expert trajectories), distill, evaluate-synthetic."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from galaxy_studio.cli.errors import model_errors, require_writable_output, write_result_table
from galaxy_studio.cli.options import add_setting_options, add_table_format_option, config_from_args
from galaxy_studio.cli.progress import DistillPrinter, TrainingPrinter, add_quiet_option
from galaxy_studio.distill.config import BufferConfig, DistillConfig, EvaluationProtocol


def cmd_buffer(args: argparse.Namespace) -> int:
    """Under torchrun every rank trains its share; rank 0 alone prints the result line."""
    from galaxy_studio.distill.experts import train_experts
    from galaxy_studio.distributed import current_ranks

    config = config_from_args(BufferConfig, args, data=args.data, out_dir=args.out)
    with DistillPrinter(quiet=args.quiet) as emit:
        result = model_errors(
            lambda: train_experts(config, emit=emit),
            f"finished experts are kept in {args.out}; run the same command to train the rest",
        )
    if not current_ranks().leader:
        return 0
    print(
        json.dumps(
            {
                "buffer_dir": result.buffer_dir,
                "experts": result.experts,
                "trained_now": result.trained_now,
                "test_accuracies": result.test_accuracies,
                "bytes": result.bytes_on_disk,
                "seconds": round(result.seconds, 1),
            }
        ),
        flush=True,
    )
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from galaxy_studio.distill.readability import describe_readability
    from galaxy_studio.distill.runner import distill

    config = config_from_args(DistillConfig, args, buffer=args.buffer, data=args.data, out_dir=args.out)
    with DistillPrinter(quiet=args.quiet) as emit:
        result = model_errors(
            lambda: distill(config, emit=emit), f"the last checkpoint is in {args.out}; run the same command to resume"
        )
    print(
        f"{result.synthetic}: {result.iterations} iterations (stopped by {result.stopped_by}), stage "
        f"{result.stage}, lr {result.lr:.4g}; pictures in {result.prototypes}\n"
        f"{describe_readability(result.readability)}",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "run_dir": result.run_dir,
                "synthetic": result.synthetic,
                "iterations": result.iterations,
                "resumed_from": result.resumed_from,
                "stopped_by": result.stopped_by,
                "stage": result.stage,
                "lr": result.lr,
                "final_loss": result.final_loss,
                "seconds": round(result.seconds, 1),
                "readability": result.readability,
            }
        ),
        flush=True,
    )
    return 0


def cmd_evaluate_synthetic(args: argparse.Namespace) -> int:
    from galaxy_studio.distill.evaluate import evaluate_synthetic, evaluation_table, format_table

    if args.out:
        require_writable_output(args.out)
    protocol = config_from_args(EvaluationProtocol, args)
    with TrainingPrinter(quiet=args.quiet) as emit:
        report = model_errors(
            lambda: evaluate_synthetic(args.run, args.data, protocol, emit=emit),
            "evaluation stopped; nothing was written",
        )
    print(format_table(report), flush=True)
    if args.json:
        print(json.dumps(report), flush=True)
    if args.out:
        write_result_table(evaluation_table(report), args.out, args.table_format, "the evaluation")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "buffer",
        help="train expert trajectories for distillation (one memory-mappable file per expert)",
        description="Train N experts on the training split of DATA with plain SGD and differentiable "
        "augmentation, saving every expert's parameters at the start and after each epoch into BUFFER_DIR. "
        "The size on disk is printed first; running the same command again keeps finished experts. Under "
        "torchrun the processes split the experts between them (BUFFER_DIR on storage they all share).",
    )
    p.add_argument("data", metavar="DATA", help="labelled images: project, folder per class, CSV or HDF5")
    add_setting_options(p, BufferConfig, only=("experts", "epochs"))
    p.add_argument("--out", required=True, metavar="BUFFER_DIR")
    add_setting_options(
        p,
        BufferConfig,
        only=(
            "arch",
            "width",
            "size",
            "crop_fraction",
            "channels",
            "lr",
            "batch_size",
            "augment",
            "zca",
            "storage",
            "seed",
            "device",
        ),
    )
    add_quiet_option(p)
    p.set_defaults(handler=cmd_buffer, distributed=True)

    p = sub.add_parser(
        "distill",
        help="distil a buffer into a few synthetic images per class (STM or MTT)",
        description="Match the expert trajectories of BUFFER_DIR with IPC synthetic images per class. Writes "
        "RUN_DIR/synthetic.npz, prototypes/*.png and synthetic.fits; a checkpoint every few iterations lets the "
        "same command resume an interrupted run exactly.",
    )
    p.add_argument("buffer", metavar="BUFFER_DIR")
    p.add_argument("data", metavar="DATA", help="the labelled images the buffer was trained on")
    add_setting_options(
        p,
        DistillConfig,
        only=(
            "method",
            "ipc",
            "syn_steps",
            "memory",
            "precision",
            "cuda_graphs",
            "iterations",
            "max_start_epoch",
            "expert_epochs",
            "lr_img",
            "clamp",
            "smooth",
            "lr_lr",
            "lr_teacher",
            "batch_syn",
            "init",
            "augment",
            "max_stage",
            "finetune_every",
            "min_lr_img",
            "checkpoint_every",
            "snapshot_every",
            "seed",
            "device",
        ),
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR")
    add_quiet_option(p)
    p.set_defaults(handler=cmd_distill)

    p = sub.add_parser(
        "evaluate-synthetic",
        help="train fresh nets on a synthetic set and compare with real baselines",
        description="Train NETS fresh networks on RUN_DIR's synthetic set, on as many random real images per "
        "class, on per-class mean images and on the full training split, and print their test accuracy "
        "(mean +- std). With --json the last line is a JSON object with keys distilled, random_real, "
        "class_mean and full, each holding mean and std.",
    )
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("data", metavar="DATA", nargs="?", help="the buffer's labelled images (default: its recorded path)")
    add_setting_options(p, EvaluationProtocol)
    p.add_argument("--json", action="store_true", help="a JSON object on the last line")
    p.add_argument("--out", metavar="TABLE", help="also write the accuracies as a table (.csv .ecsv .fits .xml/.vot)")
    add_table_format_option(p)
    add_quiet_option(p)
    p.set_defaults(handler=cmd_evaluate_synthetic)
