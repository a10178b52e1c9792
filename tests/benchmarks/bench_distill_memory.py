"""Benchmark: seconds per matching iteration and peak memory of each memory mode against syn_steps.

Run: PYTHONPATH=. python tests/benchmarks/bench_distill_memory.py [--device cpu|cuda] [--steps 10 20 40 80]
     [--repeats 2] [--threads 1] [--memory-budget-gb G]

The issue's setting: ConvNet-D3 width 128 on 32 px, 3 channels, IPC 10 x 10 classes (100 images,
batch_syn = all of them), DSA augmentation, lr 0.01. Each (mode, syn_steps) runs in a fresh
subprocess so that one configuration's allocations cannot hide another's peak:
- CPU: peak = the process's maximum resident set size (getrusage) minus its resident size just
  before the first iteration (torch allocations are invisible to tracemalloc);
- CUDA: torch.cuda.max_memory_allocated minus the memory allocated before the iteration.
The first iteration gives the peak (and a time); further repeats only add timings. On a shared
CPU the wall time depends on the neighbours' load, so the CPU time the process itself used (one
thread) is printed beside it and the ratios to "full" are taken from it.
A configuration whose peak, extrapolated linearly from the same mode at fewer steps, would not
fit the memory budget is skipped and its estimate printed: "full" at 80 steps needs tens of GB.
Prints one table, then the ratios that matter: constant(max)/constant(min) memory (flat: <= 1.2)
and checkpointed/full at each measured syn_steps, all from this run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

MODES = ("full", "checkpointed", "constant")
IPC, CLASSES, SIZE, CHANNELS, WIDTH, LR = 10, 10, 32, 3, 128, 0.01


def measure(mode: str, steps: int, device: str, repeats: int) -> dict[str, float]:
    """One configuration, in this (fresh) process: peak bytes over the first iteration, seconds."""
    import resource

    import psutil
    import torch

    from galaxy_studio.distill.matching import match_trajectory
    from galaxy_studio.distill.params import flat_parameters
    from galaxy_studio.model.architectures import build_model

    torch.manual_seed(0)
    net = build_model("convnet-d3", n_classes=CLASSES, in_channels=CHANNELS, size=SIZE, width=WIDTH).to(device)
    start = flat_parameters(net)
    target = start + 0.01 * torch.randn_like(start)
    images = torch.randn(IPC * CLASSES, CHANNELS, SIZE, SIZE, device=device)
    labels = (torch.arange(IPC * CLASSES) % CLASSES).to(device)
    log_lr = torch.tensor(math.log(LR), device=device)
    with torch.no_grad():
        net(images[:1])  # load the convolution kernels before the baseline is taken

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    cpu_used: list[float] = []

    def iteration(seed: int) -> float:
        begin, cpu_begin = time.perf_counter(), cpu_seconds()
        match_trajectory(
            net,
            start,
            target,
            images,
            labels,
            log_lr,
            syn_steps=steps,
            batch_syn=None,
            strategy="dsa",
            memory=mode,
            generator=torch.Generator().manual_seed(seed),
        )
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        cpu_used.append(cpu_seconds() - cpu_begin)
        return time.perf_counter() - begin

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        seconds = [iteration(0)]
        peak = torch.cuda.max_memory_allocated() - baseline
    else:
        baseline = psutil.Process().memory_info().rss
        seconds = [iteration(0)]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
    seconds += [iteration(seed) for seed in range(1, repeats)]
    timed = seconds[1:] or seconds
    cpu_timed = cpu_used[1:] or cpu_used
    return {
        "seconds": sum(timed) / len(timed),
        "cpu_seconds": sum(cpu_timed) / len(cpu_timed),
        "peak_bytes": float(peak),
    }


def run_child(mode: str, steps: int, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        str(steps),
        "--device",
        args.device,
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{mode} at {steps} steps failed: {result.stderr.strip()[-800:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def default_budget_gb(device: str) -> float:
    """Half of what is free now: the machine is shared, and a swap storm would ruin every timing."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return 0.8 * free / 2**30
    import psutil

    return 0.5 * psutil.virtual_memory().available / 2**30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--repeats", type=int, default=2, help="iterations per configuration")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--memory-budget-gb", type=float, help="skip configurations predicted above this")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.device, args.repeats)))
        return 0

    budget = args.memory_budget_gb or default_budget_gb(args.device)
    steps_list = sorted(args.steps)
    results: dict[tuple[str, int], dict[str, float]] = {}
    skipped: dict[tuple[str, int], float] = {}
    for mode in args.modes:
        for steps in steps_list:
            measured = [s for s in steps_list if (mode, s) in results]
            if measured:
                last = measured[-1]
                estimate = results[(mode, last)]["peak_bytes"] * steps / last / 2**30
                if estimate > budget:
                    skipped[(mode, steps)] = estimate
                    print(
                        f"  skip {mode} at {steps} steps: about {estimate:.1f} GB > budget {budget:.1f} GB",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
            results[(mode, steps)] = run_child(mode, steps, args)
            print(f"  done {mode} at {steps} steps: {results[(mode, steps)]}", file=sys.stderr, flush=True)

    print(
        f"\nmatching iteration on {args.device}: ConvNet-D3 width {WIDTH}, {SIZE} px x {CHANNELS}, "
        f"IPC {IPC} x {CLASSES} classes, batch_syn all, DSA, {args.repeats} iteration(s) per row, "
        f"torch threads {args.threads}, memory budget {budget:.1f} GB"
    )
    header = (
        f"{'mode':<13} {'syn_steps':>9} {'s/iter':>9} {'cpu s/iter':>11} {'peak MiB':>10} "
        f"{'cpu vs full':>12} {'mem vs full':>12}"
    )
    print(header)
    print("-" * len(header))
    for mode in args.modes:
        for steps in steps_list:
            if (mode, steps) in skipped:
                print(
                    f"{mode:<13} {steps:>9} {'skipped':>9} {'':>11} "
                    f"{f'~{skipped[(mode, steps)] * 1024:.0f}':>10} {'':>12} {'(estimate)':>12}"
                )
                continue
            row = results[(mode, steps)]
            full = results.get(("full", steps))
            time_ratio = f"{row['cpu_seconds'] / full['cpu_seconds']:.2f}" if full else "-"
            mem_ratio = f"{row['peak_bytes'] / full['peak_bytes']:.2f}" if full else "-"
            print(
                f"{mode:<13} {steps:>9} {row['seconds']:>9.2f} {row['cpu_seconds']:>11.2f} "
                f"{row['peak_bytes'] / 2**20:>10.0f} {time_ratio:>12} {mem_ratio:>12}"
            )
    constant = [s for s in steps_list if ("constant", s) in results]
    if len(constant) >= 2:
        ratio = results[("constant", constant[-1])]["peak_bytes"] / results[("constant", constant[0])]["peak_bytes"]
        verdict = "flat" if ratio <= 1.2 else "NOT flat"
        print(f"constant memory {constant[-1]} vs {constant[0]} steps: {ratio:.2f}x ({verdict}, limit 1.2x)")
    checkpointed = [s for s in steps_list if ("checkpointed", s) in results]
    if len(checkpointed) >= 2:
        ratio = (
            results[("checkpointed", checkpointed[-1])]["peak_bytes"]
            / results[("checkpointed", checkpointed[0])]["peak_bytes"]
        )
        print(
            f"checkpointed memory {checkpointed[-1]} vs {checkpointed[0]} steps: {ratio:.2f}x "
            f"(sqrt of the step ratio: {math.sqrt(checkpointed[-1] / checkpointed[0]):.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
