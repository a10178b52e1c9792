"""GPU benchmark: distillation speed and memory, the unroll's precision options, training and
classification throughput, and a short end-to-end CIFAR-10 distillation, in one table.

Run: PYTHONPATH=. python tests/benchmarks/bench_gpu.py [--smoke] [--results docs/gpu-results.md]
     [--cifar DIR] [--budget-s 330]

Made for one prepared, time-boxed run on a lent GPU (tests/gpu/device_run.sh). `--smoke` runs
the same steps tiny on the CPU, so the script is known to work before GPU time is spent. Every
section has a share of `--budget-s`; rows that would overrun it are printed as skipped, and
each section's table is appended to `--results` as soon as it is measured, so a run cut short
keeps what it measured.

Sections:
- distillation: seconds per matching iteration and peak memory (torch.cuda.max_memory_allocated
  above what was allocated before) for ConvNet-D3 width 128 at 32/64/128 px, IPC 1 and 10 (10
  classes), syn_steps 20 and 50, each memory mode; random images and a random segment (speed and
  memory do not depend on the values). Then constant mode's memory at syn_steps 10 and 80 (flat:
  ratio <= 1.2).
- precision of the unroll ("full", IPC 10, syn_steps 20, 32 and 64 px): torch's defaults (what
  the code did before precision was a setting), fp32, tf32, bf16; speed-up over the defaults and
  the cosine of each image gradient with fp32's (an option is usable where it is >= 0.999), and
  fp32 and tf32 again with the iteration replayed as a CUDA graph; then the graph against the
  eager unroll with the galaxy augmentation (tf32). Then a profile of one iteration: the
  operators with the most CPU time, GPU kernels per step.
- training images/s (galaxy-cnn, resnet18; 64 and 128 px; AMP on and off): the network step on
  batches already on the GPU, and galaxy-cnn at 64 px through the real data pipeline (decoded
  pixels normalised on the CPU, moved, turned and mirrored on the GPU).
- classification cutouts/s with and without 8-view TTA, decoding included, from Galaxy10-layout
  HDF5 rows (256 px), so that the disk is not the limit.
- end to end on CIFAR-10 (`--cifar`: a folder with train/<class>/ JPEGs, or train.zip): a
  buffer, STM at IPC 10, and evaluation nets on the distilled set, random real images, class
  means and the full set (a fifth of the training images held out as the test set).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from galaxy_studio.distill.graphed_match import GraphedFullMatch
from galaxy_studio.distill.matching import MEMORY_MODES, MatchOutcome, match_trajectory
from galaxy_studio.distill.params import flat_parameters
from galaxy_studio.model.architectures import build_model
from galaxy_studio.model.precision import PRECISIONS, cuda_precision, training_autocast_dtype

if TYPE_CHECKING:
    from galaxy_studio.distill.config import BufferConfig, DistillConfig
    from galaxy_studio.distill.experts import BufferResult
    from galaxy_studio.distill.runner import DistillResult

COSINE_NEEDED = 0.999
# The precisions timed again with the unroll replayed as a CUDA graph (distill/graphed_match.py).
GRAPHED_PRECISIONS = ("fp32", "tf32")
FLAT_RATIO = 1.2
CLASSES = 10


@dataclass(frozen=True)
class Scale:
    """What the full run measures, and the tiny smoke version of it."""

    width: int
    sizes: tuple[int, ...]
    ipcs: tuple[int, ...]
    steps: tuple[int, ...]
    flat_steps: tuple[int, int]
    repeats: int
    precision_sizes: tuple[int, ...]
    precision_steps: int
    train_sizes: tuple[int, ...]
    train_batch: int
    train_steps: int
    pipeline_images: int
    pipeline_size: int
    classify_rows: int
    experts: int
    expert_epochs: int
    iterations: int
    syn_steps: int
    eval_nets: int
    eval_epochs: int
    full_epochs: int
    cifar_size: int
    cifar_width: int | None
    evaluation_reserve_s: float


FULL = Scale(
    width=128,
    sizes=(32, 64, 128),
    ipcs=(1, 10),
    steps=(20, 50),
    flat_steps=(10, 80),
    repeats=1,
    precision_sizes=(32, 64),
    precision_steps=20,
    train_sizes=(64, 128),
    train_batch=128,
    train_steps=20,
    pipeline_images=2048,
    pipeline_size=64,
    classify_rows=1024,
    experts=10,
    expert_epochs=10,
    iterations=500,
    syn_steps=30,
    eval_nets=2,
    eval_epochs=200,
    full_epochs=5,
    cifar_size=32,
    cifar_width=None,
    evaluation_reserve_s=50.0,
)
SMOKE = Scale(
    width=8,
    sizes=(16,),
    ipcs=(1, 2),
    steps=(2, 4),
    flat_steps=(2, 8),
    repeats=1,
    precision_sizes=(16,),
    precision_steps=2,
    train_sizes=(16,),
    train_batch=8,
    train_steps=2,
    pipeline_images=32,
    pipeline_size=16,
    classify_rows=16,
    experts=2,
    expert_epochs=2,
    iterations=3,
    syn_steps=2,
    eval_nets=1,
    eval_epochs=2,
    full_epochs=1,
    cifar_size=16,
    cifar_width=8,
    evaluation_reserve_s=0.0,
)
# Fraction of the end-to-end section's time for training experts.
BUFFER_SHARE = 0.35
# The precision section times each graph after two warm-ups and a capture (about four eager
# iterations), hence its larger share.
SHARES = {"distillation": 0.28, "precision": 0.16, "training": 0.12, "classification": 0.07, "cifar": 0.37}


class Budget:
    """Seconds left to a section: its share of the whole, plus what earlier sections left unused."""

    def __init__(self, total: float) -> None:
        self.total = total
        self.began = time.perf_counter()
        self.allowed = 0.0
        self.section_end = self.began

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        self.allowed += SHARES[name] * self.total
        self.section_end = self.began + self.allowed
        yield

    def left(self) -> float:
        return self.section_end - time.perf_counter()


class Report:
    """Tables appended to the results file one section at a time, and printed."""

    def __init__(self, path: Path, device: torch.device, smoke: bool) -> None:
        self.path = path
        when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        heading = f"\n## {when} — {device_name(device)}{' (smoke run, CPU)' if smoke else ''}\n"
        versions = f"torch {torch.__version__}, CUDA {torch.version.cuda}, Python {sys.version.split()[0]}\n"
        self.write(heading + "\n" + versions)

    def write(self, text: str) -> None:
        print(text, flush=True)
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(text + "\n")

    def table(self, title: str, header: list[str], rows: list[list[str]], notes: list[str] = ()) -> None:
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.write("\n".join(lines + ([""] + list(notes) if notes else [])) + "\n")


def device_name(device: torch.device) -> str:
    if device.type != "cuda":
        return "CPU"
    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return "nvidia-smi: " + found.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return torch.cuda.get_device_name(device)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> int:
    if device.type != "cuda":
        return 0
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def peak_above(device: torch.device, before: int) -> float:
    return (torch.cuda.max_memory_allocated(device) - before) / 2**30 if device.type == "cuda" else math.nan


def gib(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


# Distillation ---------------------------------------------------------------------------------


@dataclass
class Matching:
    net: torch.nn.Module
    start: torch.Tensor
    target: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor


def matching_problem(size: int, ipc: int, width: int, device: torch.device) -> Matching:
    torch.manual_seed(0)
    net = build_model("convnet-d3", n_classes=CLASSES, in_channels=3, size=size, width=width).to(device)
    start = flat_parameters(net).detach()
    generator = torch.Generator().manual_seed(1)
    target = start + 0.01 * torch.randn(start.shape, generator=generator).to(device)
    images = torch.randn(ipc * CLASSES, 3, size, size, generator=generator).to(device)
    labels = torch.arange(CLASSES).repeat_interleave(ipc).to(device)
    return Matching(net, start, target, images, labels)


def one_match(problem: Matching, steps: int, memory: str, strategy: str = "dsa") -> MatchOutcome:
    return match_trajectory(
        problem.net,
        problem.start,
        problem.target,
        problem.images,
        problem.labels,
        torch.tensor(math.log(0.01), device=problem.images.device),
        syn_steps=steps,
        batch_syn=None,
        strategy=strategy,
        memory=memory,
        generator=torch.Generator().manual_seed(7),
    )


def graphed_match(problem: Matching, steps: int, strategy: str) -> Callable[[], MatchOutcome]:
    """`one_match` in full mode through a CUDA graph (eagerly on the CPU): the first call
    captures, later calls replay. A failed capture raises, so that its row says so."""
    device = problem.images.device

    def refuse(text: str) -> None:
        raise RuntimeError(text)

    graphed = GraphedFullMatch(
        problem.net,
        problem.labels,
        syn_steps=steps,
        batch_syn=None,
        strategy=strategy,
        capture=device.type == "cuda",
        on_capture_failed=refuse,
    )
    log_lr = torch.tensor(math.log(0.01), device=device)
    return lambda: graphed(problem.start, problem.target, problem.images, log_lr, torch.Generator().manual_seed(7))


def timed_match(
    problem: Matching,
    steps: int,
    memory: str,
    repeats: int,
    context: Callable[[], AbstractContextManager[None]] = nullcontext,
    strategy: str = "dsa",
    graphed: bool = False,
) -> tuple[float, float, MatchOutcome]:
    """(seconds per iteration after a warm-up, peak GiB of the warm-up, the last outcome); with
    `graphed`, full mode replayed as a CUDA graph, captured in the warm-up."""
    device = problem.images.device
    match = graphed_match(problem, steps, strategy) if graphed else lambda: one_match(problem, steps, memory, strategy)
    before = reset_peak(device)
    with context():
        outcome = match()
    synchronise(device)
    peak = peak_above(device, before)
    began = time.perf_counter()
    for _ in range(repeats):
        with context():
            outcome = match()
    synchronise(device)
    return (time.perf_counter() - began) / repeats, peak, outcome


def bench_distillation(report: Report, scale: Scale, device: torch.device, budget: Budget) -> None:
    bench_constant_flatness(report, scale, device)
    rows = []
    total_gib = torch.cuda.get_device_properties(device).total_memory / 2**30 if device.type == "cuda" else math.inf
    for size in scale.sizes:
        for ipc in scale.ipcs:
            problem = matching_problem(size, ipc, scale.width, device)
            for mode in MEMORY_MODES:
                measured: dict[int, float] = {}
                for steps in scale.steps:
                    label = [f"{size}", f"{ipc}", f"{steps}", mode]
                    estimate = max((peak * steps / known for known, peak in measured.items()), default=0.0)
                    if estimate > 0.85 * total_gib:
                        rows.append(label + ["skipped", f"~{estimate:.0f} (would not fit)"])
                        continue
                    if budget.left() <= 0:
                        rows.append(label + ["skipped (time budget)", ""])
                        continue
                    try:
                        seconds, peak, _ = timed_match(problem, steps, mode, scale.repeats)
                    except torch.OutOfMemoryError:
                        rows.append(label + ["out of memory", f"> {total_gib:.0f}"])
                        if device.type == "cuda":
                            torch.cuda.empty_cache()
                        continue
                    measured[steps] = peak
                    rows.append(label + [f"{seconds:.3f}", gib(peak)])
            del problem
    report.table(
        f"Distillation: ConvNet-D3 width {scale.width}, 10 classes, DSA, batch_syn = all",
        ["px", "IPC", "syn_steps", "memory", "s / iteration", "peak GiB"],
        rows,
    )


def bench_constant_flatness(report: Report, scale: Scale, device: torch.device) -> None:
    """Constant mode's peak memory at the fewest and most syn_steps (64 px, the larger IPC)."""
    size, ipc = scale.sizes[min(1, len(scale.sizes) - 1)], scale.ipcs[-1]
    problem = matching_problem(size, ipc, scale.width, device)
    rows, peaks = [], []
    for steps in scale.flat_steps:
        seconds, peak, _ = timed_match(problem, steps, "constant", 1)
        peaks.append(peak)
        rows.append([f"{size}", f"{ipc}", f"{steps}", f"{seconds:.3f}", gib(peak)])
    ratio = peaks[1] / peaks[0] if peaks[0] > 0 else math.nan
    verdict = "n/a on the CPU" if math.isnan(ratio) else ("flat" if ratio <= FLAT_RATIO else "NOT FLAT")
    report.table(
        "Constant mode's memory against syn_steps",
        ["px", "IPC", "syn_steps", "s / iteration", "peak GiB"],
        rows,
        [
            f"syn_steps {scale.flat_steps[1]} / {scale.flat_steps[0]} peak memory: {ratio:.2f} "
            f"({verdict}; needed <= {FLAT_RATIO})"
        ],
    )


def bench_precision(report: Report, scale: Scale, device: torch.device, budget: Budget) -> None:
    # Measured in this order until the section's time runs out: the baseline (fp32) and
    # the graphs before bf16, which the earlier runs measured already.
    variants: dict[str, Callable[[], AbstractContextManager[None]]] = {"torch defaults": nullcontext}
    for name in GRAPHED_PRECISIONS:
        variants[name] = lambda name=name: cuda_precision(name, device)
    for name in GRAPHED_PRECISIONS:
        variants[f"{name} + CUDA graph"] = lambda name=name: cuda_precision(name, device)
    for name in PRECISIONS:
        variants.setdefault(name, lambda name=name: cuda_precision(name, device))
    rows = []
    for size in scale.precision_sizes:
        problem = matching_problem(size, scale.ipcs[-1], scale.width, device)
        measured: dict[str, tuple[float, torch.Tensor] | str] = {}
        for name, context in variants.items():
            if budget.left() <= 0:
                break
            # Augmentation "none": every variant sees the same inputs, so the gradients compare.
            graphed = name.endswith("graph")
            try:
                seconds, _, outcome = timed_match(
                    problem, scale.precision_steps, "full", scale.repeats, context, "none", graphed
                )
            except RuntimeError as error:
                measured[name] = f"failed: {error}"
                continue
            measured[name] = (seconds, outcome.image_grad)
        rows += precision_rows(size, list(variants), measured)
        del problem
    report.table(
        f"Unroll precision: full mode, IPC {scale.ipcs[-1]}, syn_steps {scale.precision_steps}, width {scale.width}",
        [
            "px",
            "precision",
            "s / iteration",
            "speed-up over torch defaults",
            "speed-up over fp32",
            "cosine with fp32 image gradient",
        ],
        rows,
        [
            f"an option is usable where the cosine is >= {COSINE_NEEDED}",
            '"+ CUDA graph": the iteration captured once and replayed (distill/graphed_match.py)',
        ],
    )
    bench_graphs_with_augmentation(report, scale, device, budget)


def precision_rows(
    size: int, names: list[str], measured: dict[str, tuple[float, torch.Tensor] | str]
) -> list[list[str]]:
    def seconds_of(name: str) -> float:
        value = measured.get(name)
        return value[0] if isinstance(value, tuple) else math.nan

    reference = measured.get("fp32")
    rows = []
    for name in names:
        value = measured.get(name, "skipped (time budget)")
        if isinstance(value, str):
            rows.append([f"{size}", name, value, "", "", ""])
            continue
        seconds, gradient = value
        agreement = f"{cosine(gradient, reference[1]):.6f}" if isinstance(reference, tuple) else ""
        rows.append(
            [
                f"{size}",
                name,
                f"{seconds:.3f}",
                f"{seconds_of('torch defaults') / seconds:.2f}x",
                f"{seconds_of('fp32') / seconds:.2f}x",
                agreement,
            ]
        )
    return rows


def bench_graphs_with_augmentation(report: Report, scale: Scale, device: torch.device, budget: Budget) -> None:
    """The CUDA graph with a run's augmentation ("galaxy", the default), where the graph runs
    every family and weights all but the chosen one by zero, against the eager unroll at the
    default precision (tf32); the same draws, so the gradients compare."""
    rows = []
    for size in scale.precision_sizes:
        problem = matching_problem(size, scale.ipcs[-1], scale.width, device)
        eager: tuple[float, torch.Tensor] | None = None
        for graphed in (False, True):
            label = [f"{size}", "CUDA graph" if graphed else "eager"]
            if budget.left() <= 0:
                rows.append(label + ["skipped (time budget)", "", ""])
                continue
            try:
                seconds, _, outcome = timed_match(
                    problem,
                    scale.precision_steps,
                    "full",
                    scale.repeats,
                    lambda: cuda_precision("tf32", device),
                    "galaxy",
                    graphed,
                )
            except RuntimeError as error:
                rows.append(label + [f"failed: {error}", "", ""])
                continue
            if eager is None:
                eager = (seconds, outcome.image_grad)
            rows.append(
                label + [f"{seconds:.3f}", f"{eager[0] / seconds:.2f}x", f"{cosine(outcome.image_grad, eager[1]):.6f}"]
            )
        del problem
    report.table(
        f"CUDA graph with the galaxy augmentation: full mode, tf32, IPC {scale.ipcs[-1]}, "
        f"syn_steps {scale.precision_steps}, width {scale.width}",
        ["px", "unroll", "s / iteration", "speed-up over eager", "cosine with eager image gradient"],
        rows,
    )


def bench_unroll_profile(report: Report, scale: Scale, device: torch.device, budget: Budget) -> None:
    """Where one full-mode iteration's time goes (32 px, the larger IPC): the operators with the
    most self CPU time and the kernels launched per unrolled step. An unroll that takes as long
    at 32 px as at 128 px is bound by this per-step work, not by arithmetic."""
    from torch.profiler import ProfilerActivity, profile

    if budget.left() <= 0:
        report.write("### Unroll profile: skipped (time budget)\n")
        return
    size, steps = scale.precision_sizes[0], scale.precision_steps
    problem = matching_problem(size, scale.ipcs[-1], scale.width, device)
    timed_match(problem, steps, "full", 1)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as trace:
        one_match(problem, steps, "full")
        synchronise(device)
    events = trace.key_averages()
    kernels = sum(event.count for event in events if str(getattr(event, "device_type", "")).endswith("CUDA"))
    total = sum(event.self_cpu_time_total for event in events)
    rows = [
        [
            event.key,
            str(event.count),
            f"{event.self_cpu_time_total / 1e3:.1f}",
            f"{100 * event.self_cpu_time_total / max(total, 1):.0f}",
        ]
        for event in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:12]
    ]
    report.table(
        f"Unroll profile: one full-mode iteration, {size} px, IPC {scale.ipcs[-1]}, {steps} steps",
        ["operator", "calls", "self CPU ms", "% of CPU"],
        rows,
        [
            f"GPU kernels launched: {kernels} ({kernels / steps:.0f} per unrolled step)"
            if device.type == "cuda"
            else "GPU kernels: n/a on the CPU"
        ],
    )


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float(a @ b / (a.norm() * b.norm()))


# Training -------------------------------------------------------------------------------------


def train_step_rate(arch: str, size: int, amp: bool, scale: Scale, device: torch.device) -> float:
    torch.manual_seed(0)
    model = build_model(arch, n_classes=CLASSES, in_channels=3, size=size).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    half = training_autocast_dtype(device) if amp else None
    scaler = torch.amp.GradScaler("cuda", enabled=half == torch.float16)
    images = torch.randn(scale.train_batch, 3, size, size, device=device)
    labels = torch.randint(0, CLASSES, (scale.train_batch,), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None):
            loss = F.cross_entropy(model(images).float(), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(3):
        step()
    synchronise(device)
    began = time.perf_counter()
    for _ in range(scale.train_steps):
        step()
    synchronise(device)
    return scale.train_batch * scale.train_steps / (time.perf_counter() - began)


def pipeline_rate(scale: Scale, device: torch.device) -> float:
    """galaxy-cnn through GalaxyDataset (decoded pixels normalised on the CPU,
    turned and mirrored on the device), batch 64."""
    from galaxy_studio.model.datasets import GalaxyDataset
    from galaxy_studio.model.preprocessing import Preprocessing

    size = scale.pipeline_size
    side = math.ceil(size * math.sqrt(2)) + 2
    prep = Preprocessing(size=size, crop_fraction=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    pixels = np.random.default_rng(0).integers(0, 256, (scale.pipeline_images, 3, side, side), dtype=np.uint8)
    dataset = GalaxyDataset(pixels, np.arange(scale.pipeline_images) % CLASSES, prep, rotations="any", device=device)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True)
    model = build_model("galaxy-cnn", n_classes=CLASSES, in_channels=3, size=size).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    half = training_autocast_dtype(device)
    began = time.perf_counter()
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None):
            loss = F.cross_entropy(model(images).float(), labels)
        loss.backward()
        optimizer.step()
    synchronise(device)
    return scale.pipeline_images / (time.perf_counter() - began)


def bench_training(report: Report, scale: Scale, device: torch.device, budget: Budget) -> None:
    rows = []
    for arch in ("galaxy-cnn", "resnet18"):
        for size in scale.train_sizes:
            rates = {}
            for amp in (False, True):
                rates[amp] = train_step_rate(arch, size, amp, scale, device) if budget.left() > 0 else math.nan
            gain = rates[True] / rates[False] if rates[False] else math.nan
            rows.append([arch, f"{size}", f"{rates[False]:.0f}", f"{rates[True]:.0f}", f"{gain:.2f}x"])
    half = training_autocast_dtype(device)
    notes = [
        f"AMP type on this device: {half}",
        f"batch {scale.train_batch}, network step only (batches on the device)",
    ]
    if budget.left() > 0:
        notes.append(
            f"galaxy-cnn through the data pipeline (turns and mirrors on the device, batch 64, AMP on): "
            f"{pipeline_rate(scale, device):.0f} images/s"
        )
    report.table("Training images / s", ["network", "px", "fp32", "AMP", "AMP speed-up"], rows, notes)


# Classification -------------------------------------------------------------------------------


def write_galaxy10_rows(path: Path, rows: int) -> None:
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=rng.integers(0, 256, (rows, 256, 256, 3), dtype=np.uint8))
        handle.create_dataset("ans", data=(np.arange(rows) % CLASSES).astype(np.uint8))
        for key in ("ra", "dec", "redshift"):
            handle.create_dataset(key, data=rng.uniform(0, 1, rows))
        handle.create_dataset("pxscale", data=np.full(rows, 0.262))


def bench_classification(report: Report, scale: Scale, device: torch.device, budget: Budget, work: Path) -> None:
    from galaxy_studio.data.catalog import catalog_from_paths, read_item
    from galaxy_studio.model.classification import Classifier, classify_items
    from galaxy_studio.model.preprocessing import choose_preprocessing

    path = work / "galaxy10-rows.h5"
    write_galaxy10_rows(path, scale.classify_rows)
    items = catalog_from_paths([path]).items
    prep = choose_preprocessing(read_item(items[0]), size=64, crop_fraction=0.5, channels="display")
    prep = replace(prep, mean=(0.1, 0.1, 0.1), std=(0.2, 0.2, 0.2))
    torch.manual_seed(0)
    model = build_model("galaxy-cnn", n_classes=CLASSES, in_channels=3, size=64).eval()
    classifier = Classifier(model, prep, tuple(f"class {i}" for i in range(CLASSES)), "galaxy-cnn", path)
    rows = []
    for tta in (False, True):
        if budget.left() <= 0:
            rows.append(["on" if tta else "off", "skipped (time budget)"])
            continue
        began = time.perf_counter()
        predictions, failures = classify_items(classifier, items, tta=tta, device=str(device), batch_size=256)
        rate = len(predictions) / (time.perf_counter() - began)
        rows.append(["on" if tta else "off", f"{rate:.0f}" + (f" ({len(failures)} failed)" if failures else "")])
    report.table(
        f"Classification cutouts / s: galaxy-cnn 64 px, {len(items)} Galaxy10-layout HDF5 rows of 256 px, "
        "decoding included",
        ["TTA (8 views)", "cutouts / s"],
        rows,
    )


# End to end on CIFAR-10 -----------------------------------------------------------------------


def cifar_folder(source: Path, per_class: int, work: Path) -> Path:
    """A folder per class of at most `per_class` training images, from DIR/train/ or DIR/train.zip."""
    if (source / "train").is_dir():
        folder = source / "train"
        if all(len(list(sub.iterdir())) <= per_class for sub in folder.iterdir() if sub.is_dir()):
            return folder
        out = work / "cifar-train"
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            (out / sub.name).mkdir(parents=True, exist_ok=True)
            for file in sorted(sub.iterdir())[:per_class]:
                shutil.copy(file, out / sub.name / file.name)
        return out
    out = work / "cifar-train"
    with zipfile.ZipFile(source / "train.zip") as archive:
        taken: dict[str, int] = {}
        for name in sorted(archive.namelist()):
            parts = Path(name).parts
            if len(parts) != 3 or name.endswith("/") or taken.get(parts[1], 0) >= per_class:
                continue
            taken[parts[1]] = taken.get(parts[1], 0) + 1
            target = out / parts[1] / parts[2]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    return out


def demo_folder(work: Path) -> Path:
    from galaxy_studio.data.synthetic import write_demo_set

    out = work / "demo"
    write_demo_set(out, per_class=6, size=24, seed=2)
    return out


def distill_within(config: DistillConfig, deadline: float) -> DistillResult:
    """Distil until `config.iterations` or the deadline, whichever comes first; a run stopped by
    the deadline is finished at the iteration it reached (it checkpoints every iteration)."""
    from galaxy_studio.distill.runner import distill
    from galaxy_studio.events import Cancelled, CancelToken, MetricLogged

    cancel = CancelToken()
    reached = 0

    def watch(event: object) -> None:
        nonlocal reached
        if isinstance(event, MetricLogged) and event.name == "lr":
            reached = event.step
            if time.perf_counter() > deadline:
                cancel.set()

    try:
        return distill(config, emit=watch, cancel=cancel)
    except Cancelled:
        return distill(replace(config, iterations=max(reached, 1)))


def experts_within(config: BufferConfig, deadline: float) -> BufferResult:
    """Up to `config.experts` experts, one more while the deadline has not passed (at least two:
    STM validates on one and matches on the others). A buffer keeps finished experts, so each
    call trains only the new one."""
    from galaxy_studio.distill.experts import train_experts

    result = train_experts(replace(config, experts=2))
    while result.experts < config.experts and time.perf_counter() < deadline:
        result = train_experts(replace(config, experts=result.experts + 1))
    return result


def bench_cifar(
    report: Report, scale: Scale, device: torch.device, budget: Budget, work: Path, data: Path | None, per_class: int
) -> None:
    from galaxy_studio.distill.config import BufferConfig, DistillConfig
    from galaxy_studio.distill.evaluate import EvaluationProtocol, evaluate_synthetic

    folder = cifar_folder(data, per_class, work) if data is not None else demo_folder(work)
    name = "CIFAR-10" if data is not None else "demo galaxies (no --cifar)"
    began = time.perf_counter()
    buffer = experts_within(
        BufferConfig(
            data=str(folder),
            out_dir=str(work / "buffer"),
            experts=scale.experts,
            epochs=scale.expert_epochs,
            size=scale.cifar_size,
            width=scale.cifar_width,
            crop_fraction=1.0,
            augment="dsa",
            zca=True,
            device=str(device),
        ),
        deadline=began + BUFFER_SHARE * budget.left(),
    )
    buffer_seconds = time.perf_counter() - began
    print(f"[cifar: {buffer.experts} experts in {buffer_seconds:.0f} s]", flush=True)
    left = budget.left()
    config = DistillConfig(
        buffer=buffer.buffer_dir,
        data=str(folder),
        out_dir=str(work / "run"),
        method="stm",
        ipc=10 if data is not None else 2,
        syn_steps=scale.syn_steps,
        iterations=scale.iterations,
        lr_img=1000.0,
        lr_teacher=0.01,
        lr_lr=0.01,
        augment="dsa",
        device=str(device),
        checkpoint_every=1,
        snapshot_every=50,
    )
    result = distill_within(config, deadline=time.perf_counter() + left - scale.evaluation_reserve_s)
    distill_seconds = result.seconds
    print(f"[cifar: {result.iterations} STM iterations in {distill_seconds:.0f} s]", flush=True)
    began = time.perf_counter()
    evaluation = evaluate_synthetic(
        result.run_dir,
        protocol=EvaluationProtocol(
            nets=scale.eval_nets, epochs=scale.eval_epochs, full_epochs=scale.full_epochs, device=str(device)
        ),
    )
    eval_seconds = time.perf_counter() - began
    rows = []
    for key, label in (
        ("distilled", "distilled (STM)"),
        ("random_real", "random real"),
        ("class_mean", "class means"),
        ("full", "full training set"),
    ):
        entry = evaluation[key]
        rows.append([label, str(entry["images"]), f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"])
    report.table(
        f"End to end on {name}: {per_class if data is not None else 6} training images per class, a fifth held out",
        ["trained on", "images", "test accuracy %"],
        rows,
        [
            f"buffer: {buffer.experts} experts x {scale.expert_epochs} epochs, {buffer_seconds:.0f} s "
            f"(expert test accuracy {np.mean(buffer.test_accuracies):.3f}; as many experts as fitted in "
            f"{BUFFER_SHARE:.0%} of the section's time); STM IPC {10 if data is not None else 2}, "
            f"syn_steps {scale.syn_steps}, {result.iterations} iterations (stopped by {result.stopped_by}, stage "
            f"{result.stage}) in {distill_seconds:.0f} s ({distill_seconds / max(result.iterations, 1):.3f} s/it); "
            f"evaluation {scale.eval_nets} nets x {scale.eval_epochs} epochs (full set {scale.full_epochs}) in "
            f"{eval_seconds:.0f} s; {left:.0f} s of budget were left before distilling",
            "context: MTT publishes 65.3% at IPC 10 with 100 experts x 50 epochs, 5000 iterations, on all 50,000 "
            "images and the official test set; this run is far shorter",
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the same steps, tiny, on the CPU")
    parser.add_argument("--results", type=Path, default=Path("docs/gpu-results.md"))
    parser.add_argument("--cifar", type=Path, help="folder with train/<class>/ or train.zip")
    parser.add_argument("--cifar-per-class", type=int, default=1000)
    parser.add_argument("--budget-s", type=float, default=330.0, help="seconds for all sections together")
    parser.add_argument("--sections", nargs="+", choices=tuple(SHARES), default=tuple(SHARES))
    args = parser.parse_args(argv)
    device = torch.device("cpu" if args.smoke else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: torch sees no CUDA GPU; run with --smoke on a machine without one", file=sys.stderr)
        return 2
    scale = SMOKE if args.smoke else FULL
    args.results.parent.mkdir(parents=True, exist_ok=True)
    report = Report(args.results, device, args.smoke)
    budget = Budget(args.budget_s)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        sections: dict[str, Callable[[], None]] = {
            "distillation": lambda: bench_distillation(report, scale, device, budget),
            "precision": lambda: (
                bench_precision(report, scale, device, budget),
                bench_unroll_profile(report, scale, device, budget),
            ),
            "training": lambda: bench_training(report, scale, device, budget),
            "classification": lambda: bench_classification(report, scale, device, budget, work),
            "cifar": lambda: bench_cifar(report, scale, device, budget, work, args.cifar, args.cifar_per_class),
        }
        failed = []
        for name, run in sections.items():
            if name not in args.sections:
                continue
            with budget.section(name):
                began = time.perf_counter()
                try:
                    run()
                except Exception as error:  # one section's failure must not lose the others' numbers
                    failed.append(name)
                    report.write(f"### {name}: FAILED\n\n{type(error).__name__}: {error}\n")
                print(f"[{name}: {time.perf_counter() - began:.0f} s]", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
