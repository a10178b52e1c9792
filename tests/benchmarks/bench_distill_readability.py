"""Readability against accuracy of distilled prototypes, over candidate settings, buffers and seeds.

Each candidate (a set of DistillConfig changes, e.g. `lr_img=100,clamp=1`) is distilled from
every buffer with every seed and then evaluated by `evaluate_synthetic`; the table gives, per
candidate, the mean over those runs of the readability measures (pixels beyond the real range,
spread ratio, nearest-real ratio, runs readable) and of the test accuracies of the distilled set
beside random real images and class means, with the spread over runs. Buffers built with
different `--seed`s have different train/test splits, so a candidate is judged over several
splits, never one. Prototype grids of each run land in OUT/<candidate>/<buffer>-s<seed>/, and
OUT/prototypes.png puts every run's final prototypes side by side, a row per candidate; a run
folder that already holds its evaluation is not evaluated again, so an interrupted benchmark
continues where it stopped.

    python tests/benchmarks/bench_distill_readability.py DATA --buffers B0 B1 --seeds 0 1 \
        --candidates lr_img=1000 lr_img=100 lr_img=100,clamp=1 --out OUT [--jobs 2]

The base recipe is STM at IPC 1 with 20 syn steps and shortened stages (`--base` changes it).
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

LABEL_WIDTH = 150
BASE = "method=stm,ipc=1,syn_steps=20,max_stage=80,finetune_every=10,iterations=400"


def parse_changes(text: str) -> dict[str, Any]:
    """`key=value,...` into DistillConfig fields, each value cast to its field's type."""
    from galaxy_studio.distill.config import DistillConfig

    types = {field.name: field.type for field in fields(DistillConfig)}
    changes: dict[str, Any] = {}
    for pair in filter(None, text.split(",")):
        key, _, value = pair.partition("=")
        kind = types.get(key)
        if kind is None:
            raise SystemExit(f"{key!r} is not a DistillConfig field")
        if "bool" in str(kind):
            changes[key] = value.lower() in ("1", "true", "yes", "on")
        elif "int" in str(kind):
            changes[key] = int(value)
        elif "float" in str(kind):
            changes[key] = float(value)
        else:
            changes[key] = value
    return changes


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """Distil and evaluate one (candidate, buffer, seed); in a worker process of one thread."""
    import torch

    torch.set_num_threads(1)
    from galaxy_studio.distill.config import DistillConfig
    from galaxy_studio.distill.evaluate import EvaluationProtocol, evaluate_synthetic
    from galaxy_studio.distill.export import export_png_grids, load_synthetic
    from galaxy_studio.distill.runner import distill

    out = Path(task["out"])
    config = DistillConfig(
        buffer=task["buffer"],
        data=task["data"],
        out_dir=str(out),
        **{**parse_changes(task["base"]), **parse_changes(task["candidate"]), "seed": task["seed"]},
    )
    result = distill(config)
    export_png_grids(load_synthetic(result.synthetic), out / "prototypes")
    evaluation = out / "evaluation.json"
    protocol = EvaluationProtocol(nets=task["nets"], epochs=task["epochs"], seed=task["seed"])
    report = json.loads(evaluation.read_text(encoding="utf-8")) if evaluation.is_file() else {}
    if report.get("protocol", {}).get("epochs") != protocol.epochs or report["protocol"]["nets"] != protocol.nets:
        report = evaluate_synthetic(out, task["data"], protocol)
        evaluation.write_text(json.dumps(report), encoding="utf-8")
    return {
        "candidate": task["candidate"],
        "buffer": task["buffer"],
        "seed": task["seed"],
        "iterations": result.iterations,
        "seconds": result.seconds,
        "readability": report["readability"],
        **{name: report[name]["mean"] for name in ("distilled", "random_real", "class_mean")},
    }


def summarise(rows: list[dict[str, Any]], candidates: list[str]) -> str:
    lines = [
        "| candidate | runs | outside % | colours outside % | std ratio | nearest ratio | readable | distilled % "
        "| random real % | class mean % | distilled - random | distilled - mean |",
        "|" + "---|" * 12,
    ]
    for candidate in candidates:
        mine = [row for row in rows if row["candidate"] == candidate]
        if not mine:
            continue

        def stat(values: list[float], scale: float = 100.0) -> str:
            return f"{scale * np.mean(values):.1f} +- {scale * np.std(values):.1f}"

        readability = [row["readability"] for row in mine]
        distilled = [row["distilled"] for row in mine]
        lines.append(
            f"| {candidate} | {len(mine)} | {stat([r['outside_fraction'] for r in readability])} | "
            f"{stat([r.get('colour_outside_fraction', np.nan) for r in readability])} | "
            f"{stat([r['std_ratio'] for r in readability], 1.0)} | "
            f"{stat([r['nearest_ratio'] for r in readability], 1.0)} | "
            f"{sum(r['readable'] for r in readability)}/{len(mine)} | {stat(distilled)} | "
            f"{stat([row['random_real'] for row in mine])} | {stat([row['class_mean'] for row in mine])} | "
            f"{stat([d - row['random_real'] for d, row in zip(distilled, mine)])} | "
            f"{stat([d - row['class_mean'] for d, row in zip(distilled, mine)])} |"
        )
    return "\n".join(lines)


def contact_sheet(tasks: list[dict[str, Any]], candidates: list[str], path: Path, zoom: int = 3) -> None:
    """One row per candidate: each run's final prototypes side by side (a gap between runs),
    after a first row with the real images the first run started from."""
    from PIL import Image, ImageDraw

    def pictures(run: Path, first: bool) -> np.ndarray:
        snapshots = sorted((run / "snapshots").glob("step_*.npz"))
        with np.load(snapshots[0 if first else -1]) as stored:
            images = stored["images"]
        gap = np.zeros((images.shape[1], 4, 3), dtype=np.uint8)
        return np.concatenate([part for image in images for part in (_rgb(image), gap)], axis=1)

    runs = {
        candidate: [Path(task["out"]) for task in tasks if task["candidate"] == candidate] for candidate in candidates
    }
    rows = [np.concatenate([pictures(runs[candidates[0]][0], first=True)], axis=1)]
    rows += [
        np.concatenate([pictures(run, first=False) for run in runs[candidate]], axis=1) for candidate in candidates
    ]
    width = max(row.shape[1] for row in rows)
    sheet = np.concatenate([np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0))) for row in rows])
    picture = Image.fromarray(sheet).resize((sheet.shape[1] * zoom, sheet.shape[0] * zoom), Image.NEAREST)
    labelled = Image.new("RGB", (picture.width + LABEL_WIDTH, picture.height), "black")
    labelled.paste(picture, (LABEL_WIDTH, 0))
    draw = ImageDraw.Draw(labelled)
    for index, name in enumerate(["real start", *candidates]):
        top = sum(row.shape[0] + 4 for row in rows[:index]) * zoom
        draw.text((6, top + rows[index].shape[0] * zoom // 2 - 6), name, fill="white")
    labelled.save(path)


def _rgb(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 picture of an (H, W) or (H, W, C) display image."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3] if image.shape[2] >= 3 else np.repeat(image[:, :, :1], 3, axis=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--buffers", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--candidates", nargs="+", required=True)
    parser.add_argument("--base", default=BASE)
    parser.add_argument("--nets", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    tasks = [
        {
            "candidate": candidate,
            "buffer": buffer,
            "seed": seed,
            "data": args.data,
            "base": args.base,
            "nets": args.nets,
            "epochs": args.epochs,
            "out": str(out / candidate.replace("=", "").replace(",", "_") / f"{Path(buffer).name}-s{seed}"),
        }
        for candidate in args.candidates
        for buffer in args.buffers
        for seed in args.seeds
    ]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(run_one, tasks):
            rows.append(row)
            print(json.dumps(row), flush=True)
    (out / "rows.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    contact_sheet(tasks, args.candidates, out / "prototypes.png")
    print(summarise(rows, args.candidates))
    print(
        f"pictures: {out / 'prototypes.png'} (first row: the real starting images of the first run; then one row "
        "per candidate, each run's final prototypes in turn)"
    )


if __name__ == "__main__":
    main()
