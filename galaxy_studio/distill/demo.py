"""A distillation small enough to watch on a laptop CPU, from the first click to the filled
evaluation table in under two minutes (tests/benchmarks/bench_distill_demo.py: 106 s on an
idle 2-core machine): the README screenshot, `--panel distill --demo` and the GUI latency
benchmark all run this one.

The demo galaxies (10 procedural classes) are cut to 32 px and ZCA-whitened, as a default
buffer of 32 px colour images is; two narrow experts of four epochs make the buffer in seconds
and are kept under the app's buffers folder, so a second demo starts distilling at once.
The distillation has its own set of 100 galaxies per class (80 to train on), not the
Library's 30: on 24 training images per class the experts learn little in four epochs (32-37%
test accuracy), whitening made them worse still (15-27%), and the prototypes hardly moved from
the galaxies they started from and did not beat random real images. With the larger set,
whitened, at IPC 1 the prototypes turn into their class's typical galaxy and beat random real
images by 9.7 +- 3.9 points (8 runs: two splits x four seeds,
tests/benchmarks/bench_distill_readability.py; see docs/science/distillation.md).
"""

from __future__ import annotations

from pathlib import Path

from galaxy_studio import paths
from galaxy_studio.data.synthetic import ensure_demo_set
from galaxy_studio.distill.config import BufferConfig, DistillConfig
from galaxy_studio.distill.runs import buffers_dir
from galaxy_studio.events import NEVER, CancelToken, EventSink, ignore

DEMO_BUFFER_NAME = "demo-zca"
DEMO_PER_CLASS = 100


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
        zca=True,
    )


def demo_distill_config(buffer: Path, data: Path, out: Path, **changes: object) -> DistillConfig:
    """STM at IPC 1 from real images, a snapshot every iteration so the grid moves live. The
    image lr, clamping and smoothing are the defaults of the CLI and the panel; only the run's
    length is the demo's own: 10 syn steps, stages of at most 80 iterations and fine-tuning
    every 10 bring the whole of STM (stage changes, fine-tuning, its stop) into about a
    minute on a CPU."""
    settings: dict[str, object] = {
        "ipc": 1,
        "syn_steps": 10,
        "iterations": 400,
        "max_stage": 80,
        "finetune_every": 10,
        "snapshot_every": 1,
        "checkpoint_every": 20,
    }
    settings.update(changes)
    return DistillConfig(buffer=str(buffer), data=str(data), out_dir=str(out), **settings)  # type: ignore[arg-type]


def ensure_demo_data(*, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> Path:
    """The demo distillation's galaxies, built on first use."""
    return ensure_demo_set(per_class=DEMO_PER_CLASS, folder=paths.distill_demo_dir(), emit=emit, cancel=cancel)


def ensure_demo_buffer(*, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> tuple[Path, Path]:
    """(demo data folder, demo buffer folder), each built on first use."""
    from galaxy_studio.distill.experts import train_experts

    data = ensure_demo_data(emit=emit, cancel=cancel)
    config = demo_buffer_config(data)
    train_experts(config, emit=emit, cancel=cancel)
    return data, Path(config.out_dir)
