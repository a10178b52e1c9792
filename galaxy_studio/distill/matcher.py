"""Which unroll a run's iterations go through: `match_trajectory` as the settings say, or its
CUDA-graph replay (distill/graphed_match.py) where the run asks for one and can have it. The
runner and the iteration estimate both take it from here, so that an estimate times what the
run will do."""

from __future__ import annotations

from collections.abc import Callable

import torch

from galaxy_studio.distill.config import DistillConfig
from galaxy_studio.distill.graphed_match import GraphedFullMatch
from galaxy_studio.distill.matching import MatchOutcome, match_trajectory
from galaxy_studio.events import EventSink, Noted, Warned

# (start, target, images, log_lr, generator) -> the matching loss and its gradients.
Matcher = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator], MatchOutcome]


def run_matcher(
    config: DistillConfig, net: torch.nn.Module, labels: torch.Tensor, device: torch.device, emit: EventSink
) -> Matcher:
    """`match_trajectory` with the run's settings, replayed as a CUDA graph where the run asks
    for one and can have it."""
    if config.cuda_graphs and config.memory == "full" and device.type == "cuda":
        return GraphedFullMatch(
            net,
            labels,
            syn_steps=config.syn_steps,
            batch_syn=config.batch_syn,
            strategy=config.augment,
            capture=True,
            on_capture_failed=lambda text: emit(Warned(text)),
        )
    if config.cuda_graphs:
        emit(Noted(f"CUDA graphs need full memory mode on a CUDA GPU: this run ({config.memory}, {device}) has none"))

    def eager(
        start: torch.Tensor,
        target: torch.Tensor,
        images: torch.Tensor,
        log_lr: torch.Tensor,
        generator: torch.Generator,
    ) -> MatchOutcome:
        return match_trajectory(
            net,
            start,
            target,
            images,
            labels,
            log_lr,
            syn_steps=config.syn_steps,
            batch_syn=config.batch_syn,
            strategy=config.augment,
            memory=config.memory,
            generator=generator,
        )

    return eager
