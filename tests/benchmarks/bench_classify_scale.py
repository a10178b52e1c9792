"""Benchmark: survey-size classification (issue #19): memory, resume and throughput.

Run: python tests/benchmarks/bench_classify_scale.py [--small 10000] [--large 200000]
     [--size 64] [--chunk-size 4096] [--device cpu] [--work DIR]

Writes a Galaxy10-layout HDF5 file of --large synthetic galaxies (--size px, a few hundred
distinct ones repeated, compressed, so the file stays small) and an untrained galaxy-cnn
checkpoint (the weights do not change the cost). Then, each `galaxy-studio classify` in a
process of its own:

1. peak RSS of classifying the first --small rows (the baseline) and all --large rows: the
   ratio should stay at or below 1.2, since a survey run holds one chunk, not the survey;
2. a run killed with SIGKILL once two chunks are on disk, then rerun: the table must equal
   the uninterrupted one, byte for byte;
3. cutouts/s of one process and of two (torchrun) on the --small rows, with the seconds the
   first process spent decoding and in the network (the CLI's `time:` line).

Prints one table. On a shared machine the rates move with the other load; the ratios of
memory and the equality check do not.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from event_loop import print_table  # noqa: E402 - a sibling script module

ROOT = Path(__file__).resolve().parents[2]
MAX_RSS_RATIO = 1.2
_DISTINCT = 256
_BLOCK = 4096
_TIME_LINE = re.compile(r"time: ([\d.]+) s decoding .*?, ([\d.]+) s in the network")


def write_survey(path: Path, rows: int, size: int) -> None:
    """Rows of procedural galaxies (a few hundred distinct ones, repeated) with positions."""
    import h5py
    import numpy as np

    from galaxy_studio.data.synthetic import make_galaxy, render_demo_rgb

    rng = np.random.default_rng(0)
    distinct = np.stack([render_demo_rgb(make_galaxy(index % 10, size, rng)) for index in range(_DISTINCT)])
    with h5py.File(path, "w") as handle:
        images = handle.create_dataset(
            "images", (rows, size, size, 3), dtype=np.uint8, chunks=(64, size, size, 3), compression="lzf"
        )
        for start in range(0, rows, _BLOCK):
            stop = min(rows, start + _BLOCK)
            images[start:stop] = distinct[np.arange(start, stop) % _DISTINCT]
        handle.create_dataset("ra", data=np.linspace(0.0, 360.0, rows, endpoint=False))
        handle.create_dataset("dec", data=np.linspace(-60.0, 60.0, rows))


def write_checkpoint(data: Path, size: int, out: Path) -> None:
    from galaxy_studio.data.catalog import CatalogItem, read_item
    from galaxy_studio.model.architectures import ArchitectureSpec, build_model
    from galaxy_studio.model.checkpoint import save_classifier
    from galaxy_studio.model.datasets import prepare_pixels
    from galaxy_studio.model.preprocessing import channel_statistics, choose_preprocessing

    items = [CatalogItem(str(data), index=index) for index in range(64)]
    prep = choose_preprocessing(read_item(items[0]), size=size, crop_fraction=1.0, channels="display")
    sample, _ = prepare_pixels(items, prep)
    prep = prep.with_statistics(*channel_statistics(sample, prep))
    classes = ["Round Smooth", "Edge-on without Bulge", "Unbarred Loose Spiral"]
    model = build_model("galaxy-cnn", n_classes=len(classes), in_channels=3, size=size)
    spec = ArchitectureSpec("galaxy-cnn", len(classes), 3, size)
    save_classifier(out, model, {"architecture": spec.to_dict(), "classes": classes, "preprocessing": prep.to_dict()})


def first_rows(source: Path, rows: int, out: Path) -> None:
    """The first `rows` rows of `source` as a file of their own (the baseline survey)."""
    import h5py

    with h5py.File(source, "r") as handle, h5py.File(out, "w") as small:
        images = handle["images"]
        small.create_dataset("images", data=images[:rows], chunks=images.chunks, compression="lzf")
        for name in ("ra", "dec"):
            small.create_dataset(name, data=handle[name][:rows])


def classify_command(model: Path, data: Path, out: Path, args: argparse.Namespace) -> list[str]:
    return [str(model), str(data), "--out", str(out), "--chunk-size", str(args.chunk_size), "--device", args.device]


def run_measured(command: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB of the process tree's largest process, stderr) of a command
    run from a fresh Python that waits for it alone, so the peak is that command's."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], stderr=subprocess.PIPE, text=True)\n"
        "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stderr.write(done.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    seconds, peak_kib = done.stdout.split()[-2:]
    return float(seconds), int(peak_kib) / 1024, done.stderr


def app(*args: str) -> list[str]:
    return [sys.executable, "-m", "galaxy_studio", "classify", *args]


def torchrun(processes: int, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        "galaxy_studio",
        "classify",
        *args,
    ]


def kill_and_resume(model: Path, data: Path, out: Path, args: argparse.Namespace) -> tuple[int, float]:
    """Kill a run (SIGKILL to its process group) once two chunks are on disk, rerun it;
    returns (chunks on disk at the kill, seconds of the rerun)."""
    parts = out.with_name(f".{out.name}.parts")
    command = app(*classify_command(model, data, out, args), "--quiet")
    victim = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    while len(list(parts.glob("chunk-*.jsonl"))) < 2:
        if victim.poll() is not None:
            raise SystemExit("the run finished before it could be killed: use a larger --small or smaller --chunk-size")
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    kept = len(list(parts.glob("chunk-*.jsonl")))
    seconds, _, _ = run_measured(command)
    return kept, seconds


def timing_of(stderr: str) -> tuple[float, float]:
    found = _TIME_LINE.search(stderr)
    return (float(found.group(1)), float(found.group(2))) if found else (float("nan"), float("nan"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="inputs of the baseline run")
    parser.add_argument("--large", type=int, default=200_000, help="inputs of the large run")
    parser.add_argument("--size", type=int, default=64, help="cutout side in pixels")
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, help="folder for the files (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-classify-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    large, small, model = work / "large.h5", work / "small.h5", work / "model.pt"
    write_survey(large, args.large, args.size)
    first_rows(large, args.small, small)
    write_checkpoint(small, args.size, model)

    small_s, small_rss, small_err = run_measured(app(*classify_command(model, small, work / "small.csv", args)))
    large_s, large_rss, _ = run_measured(app(*classify_command(model, large, work / "large.csv", args), "--quiet"))
    kept, resume_s = kill_and_resume(model, small, work / "resumed.csv", args)
    same = (work / "resumed.csv").read_bytes() == (work / "small.csv").read_bytes()
    two_s, _, two_err = run_measured(torchrun(2, *classify_command(model, small, work / "two.csv", args)))
    two_same = (work / "two.csv").read_bytes() == (work / "small.csv").read_bytes()
    decode_1, network_1 = timing_of(small_err)
    decode_2, network_2 = timing_of(two_err)
    ratio = large_rss / small_rss
    print(
        f"classify at scale: galaxy-cnn, {args.size} px Galaxy10 rows, chunks of {args.chunk_size}, "
        f"{args.device}, {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f})"
    )
    print_table(
        [
            (f"peak RSS, {args.small} inputs (MiB)", f"{small_rss:.0f}"),
            (f"peak RSS, {args.large} inputs (MiB)", f"{large_rss:.0f}"),
            ("peak RSS ratio (goal <= 1.2)", f"{ratio:.3f} {'ok' if ratio <= MAX_RSS_RATIO else 'TOO HIGH'}"),
            (f"{args.large} inputs: cutouts/s", f"{args.large / large_s:.0f}"),
            ("killed run: chunks kept, rerun seconds", f"{kept}, {resume_s:.1f}"),
            ("resumed table equals uninterrupted", "yes" if same else "NO"),
            (f"1 process, {args.small} inputs: cutouts/s", f"{args.small / small_s:.0f}"),
            ("  decoding s (summed over threads), network s", f"{decode_1:.1f}, {network_1:.1f}"),
            (f"2 processes (torchrun), {args.small} inputs: cutouts/s", f"{args.small / two_s:.0f}"),
            ("  rank 0: decoding s, network s", f"{decode_2:.1f}, {network_2:.1f}"),
            ("2-process table equals 1-process", "yes" if two_same else "NO"),
        ]
    )
    return 0 if same and two_same and ratio <= MAX_RSS_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
