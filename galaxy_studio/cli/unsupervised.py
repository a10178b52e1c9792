"""`distill-unsupervised`: distil images into unlabelled synthetic samples (seed paper 002)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from galaxy_studio.cli.errors import model_errors
from galaxy_studio.cli.options import add_setting_options, config_from_args
from galaxy_studio.cli.progress import UnsupervisedPrinter, add_quiet_option
from galaxy_studio.distill.unsupervised_config import (
    ANTI_COLLAPSE_REAL_RECONSTRUCTION,
    ANTI_COLLAPSE_REPULSION,
    UnsupervisedConfig,
)


def _unsupervised_config(args: argparse.Namespace) -> UnsupervisedConfig:
    anti_collapse = {"l_real_rec": ANTI_COLLAPSE_REAL_RECONSTRUCTION, "l_repel": ANTI_COLLAPSE_REPULSION}
    return config_from_args(
        UnsupervisedConfig,
        args,
        fallback=anti_collapse if args.anti_collapse else None,
        data=args.data,
        out_dir=args.out,
    )


def cmd_distill_unsupervised(args: argparse.Namespace) -> int:
    from galaxy_studio.distill.unsupervised import distill_unsupervised

    config = _unsupervised_config(args)
    with UnsupervisedPrinter(quiet=args.quiet) as emit:
        result = model_errors(
            lambda: distill_unsupervised(config, emit=emit),
            f"the last finished epoch is saved in {args.out}; run the same command to resume",
        )
    counts = ", ".join(f"{name}: {count}" for name, count in zip(result.classes, result.predicted_counts))
    print(
        f"encoder+head accuracy (trained jointly on all real training images): validation "
        f"{result.joint_val_accuracy:.4f}, test {result.joint_test_accuracy:.4f}\n"
        f"fresh nets trained only on the {config.samples} synthetic samples (head-predicted labels): test "
        f"{result.fresh_test_accuracy:.4f} +- {result.fresh_test_std:.4f}\n"
        f"fresh nets trained on {config.samples} random real images (true labels): test "
        f"{result.random_real_test_accuracy:.4f} +- {result.random_real_test_std:.4f}\n"
        f"mean pairwise distance: synthetic {result.homogeneity:.3f}, at start {result.initial_homogeneity:.3f}, "
        f"random real {result.random_real_homogeneity:.3f}\n"
        f"synthetic samples per predicted class: {counts}\n"
        f"samples: {result.samples_png}",
        file=sys.stderr if args.json else sys.stdout,
        flush=True,
    )
    if args.json:
        print(json.dumps({**result.to_dict(), "seconds": round(result.seconds, 1)}), flush=True)
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "distill-unsupervised",
        help="distil images into unlabelled synthetic samples with an autoencoder (seed 002)",
        description="Pretrain a shallow dense autoencoder on DATA (MNIST IDX files or folder, or labelled galaxy "
        "cutouts), then train encoder, a linear head and N synthetic samples together with classification, "
        "reconstruction, gradient-penalty and diversity terms. Reports the jointly trained encoder+head accuracy, "
        "the test accuracy of fresh nets trained only on the synthetic samples (labelled by the head), and the "
        "samples' mean pairwise distance (homogeneity). Writes RUN_DIR/samples.png, synthetic.npz and "
        "result.json; running the same command again resumes an interrupted run.",
    )
    p.add_argument("data", metavar="DATA", help="IDX folder or images file, or project, folder per class, CSV, HDF5")
    add_setting_options(p, UnsupervisedConfig, only=("samples",))
    p.add_argument("--out", required=True, metavar="RUN_DIR")
    p.add_argument("--json", action="store_true", help="a JSON summary on the last line")
    add_setting_options(
        p,
        UnsupervisedConfig,
        only=(
            "hidden",
            "tied",
            "size",
            "crop_fraction",
            "colour",
            "batch_size",
            "lr",
            "lr_syn",
            "pretrain_epochs",
            "patience",
            "epochs",
            "warmup_epochs",
            "l_cls",
            "l_rec",
            "l_grad",
            "l_div",
        ),
    )
    p.add_argument(
        "--anti-collapse",
        action="store_true",
        help=f"counter-measure against collapse: also reconstruct the real batch (weight "
        f"{ANTI_COLLAPSE_REAL_RECONSTRUCTION:g}) and repel nearest neighbours among the samples "
        f"(weight {ANTI_COLLAPSE_REPULSION:g})",
    )
    add_setting_options(
        p, UnsupervisedConfig, only=("l_real_rec", "l_repel", "fresh_nets", "fresh_epochs", "seed", "device")
    )
    add_quiet_option(p)
    p.set_defaults(handler=cmd_distill_unsupervised)
