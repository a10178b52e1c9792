"""A distillation small enough to watch on a laptop CPU, from the first click to the filled
evaluation table in about two minutes (tests/benchmarks/bench_distill_demo.py: 98 s on an
idle 2-core machine): the README screenshot, `--panel distill --demo` and the GUI latency
benchmark all run this one.

The demo galaxies (10 procedural classes) are cut to 32 px; two narrow experts of four
epochs make the buffer in seconds and are kept under the app's buffers folder, so a second
demo starts distilling at once. They are not ZCA-whitened, unlike a default buffer of 32 px
colour images: whitening the demo's few, dark-sky images made these short experts worse (15-27%
against 32-40% test accuracy) and the distilled set with them (at IPC 1: 39% in two runs
against 53% in four, tests/benchmarks/bench_distill_readability.py).
"""

from __future__ import annotations

from pathlib import Path

from galaxy_studio.data.synthetic import ensure_demo_set
from galaxy_studio.distill.config import BufferConfig, DistillConfig
from galaxy_studio.distill.runs import buffers_dir
from galaxy_studio.events import NEVER, CancelToken, EventSink, ignore

DEMO_BUFFER_NAME = "demo"


def demo_buffer_config(data: Path, out: Path | None = None) -> BufferConfig:
    return BufferConfig(
        data=str(data),
        out_dir=str(out or buffers_dir() / DEMO_BUFFER_NAME),
        experts=2,
        epochs=4,
        width=16,
        size=32,
        crop_fraction=0.6,
        batch_size=32,
        zca=False,
    )


def demo_distill_config(buffer: Path, data: Path, out: Path, **changes: object) -> DistillConfig:
    """STM at IPC 2 from real images, a snapshot every iteration so the grid moves live. The
    image lr and clamping are the defaults of the CLI and the panel; only the run's length is
    the demo's own: stages of at most 40 iterations and fine-tuning every 5 bring the whole of
    STM (stage changes, fine-tuning, its stop) into a few minutes on a CPU."""
    settings: dict[str, object] = {
        "ipc": 2,
        "syn_steps": 10,
        "iterations": 400,
        "max_stage": 40,
        "finetune_every": 5,
        "snapshot_every": 1,
        "checkpoint_every": 20,
    }
    settings.update(changes)
    return DistillConfig(buffer=str(buffer), data=str(data), out_dir=str(out), **settings)  # type: ignore[arg-type]


def ensure_demo_buffer(*, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> tuple[Path, Path]:
    """(demo data folder, demo buffer folder), each built on first use."""
    from galaxy_studio.distill.experts import train_experts

    data = ensure_demo_set(emit=emit, cancel=cancel)
    config = demo_buffer_config(data)
    train_experts(config, emit=emit, cancel=cancel)
    return data, Path(config.out_dir)
