"""How long one distillation iteration takes here, before committing hours to a run.

Matching cost depends on the network, the image size, the number of synthetic images,
syn_steps and the memory mode, not on the pixel values; so random images over the
buffer's first expert segment time it faithfully. The first iteration pays for kernel
selection and allocator warm-up and is not counted.
"""

from __future__ import annotations

import math
import time

import torch

from galaxy_studio.distill.config import DistillConfig
from galaxy_studio.distill.experts import open_buffer
from galaxy_studio.distill.fitting import seeded_generator
from galaxy_studio.distill.matcher import run_unrolls
from galaxy_studio.events import NEVER, CancelToken, EventSink, Progressed, ignore
from galaxy_studio.model.architectures import model_from_spec
from galaxy_studio.model.precision import cuda_precision
from galaxy_studio.model.prediction import resolve_device


def estimate_iteration_seconds(
    config: DistillConfig, *, repeats: int = 2, emit: EventSink = ignore, cancel: CancelToken = NEVER
) -> float:
    """Median seconds of `repeats` timed iterations (matching plus, for STM, the validation
    loss) after one untimed warm-up, on `config.device` at the run's precision and, where it
    asks for them, with CUDA graphs (captured in the warm-up)."""
    device = resolve_device(config.device)
    buffer = open_buffer(config.buffer)
    spec = buffer.spec
    net = model_from_spec(spec).to(device)
    n_images = config.ipc * len(buffer.classes)
    generator = torch.Generator().manual_seed(config.seed)
    images = torch.randn(n_images, spec.in_channels, spec.size, spec.size, generator=generator).to(device)
    labels = torch.arange(len(buffer.classes)).repeat_interleave(config.ipc).to(device)
    start = torch.from_numpy(buffer.snapshot(0, 0)).to(device)
    target = torch.from_numpy(buffer.snapshot(0, min(config.matched_epochs, buffer.last_epoch))).to(device)
    log_lr = torch.tensor(math.log(config.lr_teacher), device=device)
    unrolls = run_unrolls(config, net, labels, device, ignore)
    seconds = []
    for attempt in range(repeats + 1):
        cancel.raise_if_set()
        began = time.perf_counter()
        with cuda_precision(config.precision, device):
            unrolls.match(start, target, images, log_lr, seeded_generator(config.seed, attempt))
            if config.method == "stm":
                unrolls.loss(start, target, images, log_lr, seeded_generator(config.seed, attempt, 1))
        if device.type == "cuda":
            torch.cuda.synchronize()
        if attempt:
            seconds.append(time.perf_counter() - began)
        emit(Progressed(attempt + 1, repeats + 1, "timing iterations"))
    return float(sorted(seconds)[len(seconds) // 2])
