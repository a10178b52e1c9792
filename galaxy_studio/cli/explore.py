"""Exploration commands: embed images, cluster the embeddings."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from galaxy_studio.cli.errors import CommandError, model_errors, require_writable_output, write_result_table
from galaxy_studio.cli.options import add_setting_options, add_table_format_option, config_from_args
from galaxy_studio.cli.progress import TrainingPrinter, add_quiet_option
from galaxy_studio.explore.embeddings import EmbedConfig


def cmd_embed(args: argparse.Namespace) -> int:
    from galaxy_studio.explore.embeddings import embed

    require_writable_output(args.out)
    if args.model:
        source, model = "model", args.model
    elif args.backbone:
        source, model = "backbone", None
    else:
        source, model = "autoencoder", args.autoencoder or None
    config = config_from_args(
        EmbedConfig,
        args,
        data=args.data,
        source=source,
        model=model,
        backbone=args.backbone,
        weights_path=args.weights,
        use_cache=not args.no_cache,
        average_orientations=not args.single_orientation,
    )
    started = time.perf_counter()
    with TrainingPrinter(quiet=args.quiet) as emit:
        embeddings = model_errors(lambda: embed(config, emit=emit), "nothing was written")
    seconds = time.perf_counter() - started
    try:
        embeddings.save(args.out)
    except OSError as error:
        raise CommandError(f"{args.out}: cannot write the embeddings ({error.strerror or error})") from None
    labelled = int((embeddings.labels >= 0).sum())
    print(
        f"{args.out}: {len(embeddings)} images x {embeddings.vectors.shape[1]} values from {embeddings.source}; "
        f"{labelled} labelled; {seconds:.1f} s",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "out": args.out,
                "images": len(embeddings),
                "dimension": int(embeddings.vectors.shape[1]),
                "labelled": labelled,
                "source": embeddings.source,
                "seconds": round(seconds, 2),
            }
        ),
        flush=True,
    )
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from galaxy_studio.explore.embeddings import Embeddings
    from galaxy_studio.explore.inventory import open_inventory
    from galaxy_studio.explore.report import clustering_report, clusters_table, format_report, run_clusterings

    if args.out:
        require_writable_output(args.out)
    embeddings = model_errors(lambda: Embeddings.load(args.embeddings), "nothing was written")
    if args.labels:
        inventory = model_errors(lambda: open_inventory(args.labels), "nothing was written")
        embeddings = embeddings.with_labels(inventory)
        if not embeddings.has_labels:
            raise CommandError(f"{args.labels}: none of its labelled images is in {args.embeddings}")
    methods = args.method or ["kmeans"]
    clusterings = model_errors(lambda: run_clusterings(embeddings, args.k, methods, args.seed), "nothing was written")
    rows = clustering_report(embeddings, clusterings)
    print(format_report(rows, embeddings.class_names), flush=True)
    if args.out:
        write_result_table(clusters_table(embeddings, clusterings), args.out, args.table_format, "the clusters")
    if args.json:
        print(
            json.dumps(
                {
                    "embeddings": args.embeddings,
                    "n": len(embeddings),
                    "classes": list(embeddings.class_names),
                    "results": rows,
                }
            ),
            flush=True,
        )
    return 0


def add_commands(sub: Any) -> None:
    from galaxy_studio.explore.clustering import CLUSTER_METHODS

    p = sub.add_parser(
        "embed",
        help="one vector per image (classifier, autoencoder or backbone), saved as EMB.npz",
        description="Embed every image of DATA, labelled or not. --model takes a classifier's penultimate layer; "
        "--autoencoder trains a small convolutional autoencoder on DATA itself (or uses FILE); --backbone uses a "
        "torchvision network with local weights (--weights, or torchvision's cache; nothing is downloaded). "
        "Results are cached per data and model file and recomputed when either changes.",
    )
    p.add_argument("data", metavar="DATA", help="project (.gsproj), folder, CSV list or Galaxy10 HDF5")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="MODEL", help="classifier run folder or model.pt")
    source.add_argument(
        "--autoencoder",
        nargs="?",
        const="",
        metavar="FILE",
        help="autoencoder embedding (the default); FILE reuses a trained one",
    )
    source.add_argument("--backbone", metavar="NAME", help="torchvision network, e.g. resnet18")
    p.add_argument("--weights", metavar="FILE", help="the backbone's weights (a torchvision state dict)")
    p.add_argument("--out", required=True, metavar="EMB.npz")
    add_setting_options(
        p, EmbedConfig, only=("size", "crop_fraction", "latent", "autoencoder_epochs", "batch_size", "seed", "device")
    )
    p.add_argument(
        "--single-orientation",
        action="store_true",
        help="embed each image as it is, not averaged over its 8 right-angle rotations and flips "
        "(8 times faster; vectors then depend on the galaxy's orientation)",
    )
    p.add_argument("--no-cache", action="store_true", help="compute again and leave the cache alone")
    add_quiet_option(p)
    p.set_defaults(handler=cmd_embed)

    p = sub.add_parser(
        "cluster",
        help="cluster embeddings; with labels, score them beside the majority baseline",
        description="Cluster EMB.npz (PCA keeping 95% of the variance, then k-means or spectral clustering). With "
        "labels (stored in EMB.npz, or from --labels DATA) print accuracy (Hungarian matching), ARI and NMI beside "
        "the majority-class baseline. --json prints one JSON object on the last line. --out writes a table of every "
        "image (path, label, ra/dec where known, its cluster under each method and k) as CSV, ECSV, FITS or VOTable.",
    )
    p.add_argument("embeddings", metavar="EMB.npz")
    p.add_argument(
        "--k", type=int, nargs="+", default=[10], help="number of clusters; give several to compare them (default 10)"
    )
    p.add_argument(
        "--method", choices=CLUSTER_METHODS, action="append", help="kmeans (default) or spectral; repeat for both"
    )
    p.add_argument("--labels", metavar="DATA", help="take labels from this project, folder or CSV")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="a JSON object on the last line")
    p.add_argument("--out", metavar="TABLE", help="each image's clusters as a table (.csv .ecsv .fits .xml/.vot)")
    add_table_format_option(p)
    p.set_defaults(handler=cmd_cluster)
