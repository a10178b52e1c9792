"""Benchmark: distillation iteration time and peak memory per memory mode, and evaluation time.

Run: python tests/benchmarks/bench_distill_speed.py [--device cpu|cuda] [--ipc 1 10]
     [--syn-steps 10 20 40] [--modes full checkpointed constant] [--runtime app off] [--eval-epochs 20]

ConvNet-D3 width 128 at 32 px, 10 classes (the MTT reference's CIFAR set-up), random
synthetic images over a random expert segment (the cost does not depend on the pixels), the
"galaxy" augmentation. Every measurement runs in a fresh process: one untimed iteration, then
`--repeats` timed ones. Columns: wall seconds per iteration, CPU seconds per iteration (user +
system; system time is mostly page faults), minor page faults per iteration, and peak memory
above the process's baseline (CPU: peak RSS; CUDA: torch.cuda.max_memory_allocated).
`--runtime off` runs with GALAXY_STUDIO_CPU_RUNTIME=off, i.e. without the app's process set-up
(glibc keeping freed memory, passive OpenMP waiting: galaxy_studio/cpu_runtime.py), to measure
what it gives.

Evaluation: MTT's protocol trains 5 fresh nets for 1000 epochs on the IPC x 10 synthetic images
(one batch per epoch). The benchmark times `--eval-epochs` epochs of the 5 nets one after the
other (fitting.train_epoch, as evaluation ran before) and together as one vmapped model
(net_batch.train_batch_epoch, as it runs now) and extrapolates both to 1000 epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from event_loop import add_row, print_table, runtime_env  # noqa: E402 - a sibling script module

CLASSES, SIZE, WIDTH, NETS, PROTOCOL_EPOCHS = 10, 32, 128, 5, 1000


def _usage() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


def child_iteration(device_name: str, mode: str, ipc: int, syn_steps: int, repeats: int) -> dict:
    import torch

    from galaxy_studio.distill.fitting import seeded_generator
    from galaxy_studio.distill.matching import match_trajectory
    from galaxy_studio.distill.params import flat_parameters
    from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec

    device = torch.device(device_name)
    generator = torch.Generator().manual_seed(0)
    net = model_from_spec(ArchitectureSpec("convnet-d3", CLASSES, 3, SIZE, WIDTH)).to(device)
    start = flat_parameters(net).detach()
    target = start + 0.01 * torch.randn(start.shape, generator=generator).to(device)
    images = torch.randn(CLASSES * ipc, 3, SIZE, SIZE, generator=generator).to(device)
    labels = torch.arange(CLASSES).repeat_interleave(ipc).to(device)
    log_lr = torch.tensor(-4.6, device=device)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def iteration(index: int) -> None:
        match_trajectory(
            net,
            start,
            target,
            images,
            labels,
            log_lr,
            syn_steps=syn_steps,
            batch_syn=None,
            strategy="galaxy",
            memory=mode,
            generator=seeded_generator(index),
        )
        if device.type == "cuda":
            torch.cuda.synchronize()

    iteration(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    cpu_before, faults_before = _usage()
    began = time.perf_counter()
    for index in range(repeats):
        iteration(index + 1)
    wall = (time.perf_counter() - began) / repeats
    cpu_after, faults_after = _usage()
    if device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    return {
        "wall": wall,
        "cpu": (cpu_after - cpu_before) / repeats,
        "faults": (faults_after - faults_before) / repeats,
        "peak_mib": peak_mib,
    }


def child_evaluation(device_name: str, ipc: int, epochs: int) -> dict:
    import torch

    from galaxy_studio.distill.fitting import EVAL_BATCH, seeded_generator, train_epoch
    from galaxy_studio.distill.net_batch import NetBatch, train_batch_epoch
    from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec

    device = torch.device(device_name)
    spec = ArchitectureSpec("convnet-d3", CLASSES, 3, SIZE, WIDTH)
    images = torch.randn(CLASSES * ipc, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).to(device)
    labels = torch.arange(CLASSES).repeat_interleave(ipc).to(device)

    def synchronise() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    began = time.perf_counter()
    for index in range(NETS):
        net = model_from_spec(spec).to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        generator = seeded_generator(index)
        for _ in range(epochs):
            train_epoch(net, optimizer, images, labels, batch_size=EVAL_BATCH, strategy="galaxy", generator=generator)
    synchronise()
    one_by_one = time.perf_counter() - began
    began = time.perf_counter()
    nets = NetBatch([model_from_spec(spec).to(device) for _ in range(NETS)])
    optimizer = torch.optim.SGD(nets.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    generators = [seeded_generator(index) for index in range(NETS)]
    stacked_images, stacked_labels = images.expand(NETS, *images.shape), labels.expand(NETS, *labels.shape)
    for _ in range(epochs):
        train_batch_epoch(
            nets,
            optimizer,
            stacked_images,
            stacked_labels,
            batch_size=EVAL_BATCH,
            strategy="galaxy",
            generators=generators,
        )
    synchronise()
    together = time.perf_counter() - began
    scale = PROTOCOL_EPOCHS / epochs
    return {"one_by_one": one_by_one * scale, "together": together * scale}


def run_child(arguments: list[str], runtime: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *arguments],
        check=True,
        capture_output=True,
        text=True,
        env=runtime_env(runtime == "app"),
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ipc", nargs="+", type=int, default=[1, 10])
    parser.add_argument("--syn-steps", nargs="+", type=int, default=[10, 20, 40])
    parser.add_argument("--modes", nargs="+", default=["full", "checkpointed", "constant"])
    parser.add_argument("--runtime", nargs="+", choices=("app", "off"), default=["app"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--eval-epochs", type=int, default=20, help="epochs timed per evaluation (0: skip)")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "iteration":
            result = child_iteration(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))
        else:
            result = child_evaluation(rest[0], int(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return
    rows = [
        (
            "set-up",
            f"ConvNet-D3 width {WIDTH}, {SIZE} px, {CLASSES} classes, device {args.device}, {os.cpu_count()} cores",
        )
    ]
    for runtime in args.runtime:
        for ipc in args.ipc:
            for syn_steps in args.syn_steps:
                for mode in args.modes:
                    result = run_child(
                        ["iteration", args.device, mode, str(ipc), str(syn_steps), str(args.repeats)], runtime
                    )
                    add_row(
                        rows,
                        f"runtime {runtime} ipc {ipc:>2} syn {syn_steps:>2} {mode:<12}",
                        f"{result['wall']:7.2f} s/it  cpu {result['cpu']:7.2f} s/it  "
                        f"{result['faults'] / 1e6:6.2f} M faults/it  peak {result['peak_mib']:8.1f} MiB",
                    )
    if args.eval_epochs:
        for ipc in args.ipc:
            result = run_child(["evaluation", args.device, str(ipc), str(args.eval_epochs)], args.runtime[0])
            add_row(
                rows,
                f"evaluation ipc {ipc:>2}, {NETS} nets x {PROTOCOL_EPOCHS} epochs",
                f"one by one {result['one_by_one']:7.1f} s  together {result['together']:7.1f} s  "
                f"({result['one_by_one'] / result['together']:.1f}x)",
            )
    print_table(rows)


if __name__ == "__main__":
    main()
