"""Which unrolls a run's iterations go through: `match_trajectory` and `matching_loss` as the
settings say, or their CUDA-graph replays (distill/graphed_match.py) where the run asks for
graphs and can have them. The runner and the iteration estimate both take them from here, so
that an estimate times what the run will do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from galaxy_studio.distill.config import DistillConfig
from galaxy_studio.distill.graphed_match import GraphedFullMatch, GraphedMatchingLoss
from galaxy_studio.distill.matching import MatchOutcome, match_trajectory, matching_loss
from galaxy_studio.events import EventSink, Noted, Warned

# (start, target, images, log_lr, generator) -> the matching loss and its gradients.
Matcher = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator], MatchOutcome]
# The same arguments -> the matching loss alone (STM's validation).
LossMeasure = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator], float]


@dataclass(frozen=True)
class RunUnrolls:
    match: Matcher
    loss: LossMeasure


def run_unrolls(
    config: DistillConfig, net: torch.nn.Module, labels: torch.Tensor, device: torch.device, emit: EventSink
) -> RunUnrolls:
    """`match_trajectory` and `matching_loss` with the run's settings, each replayed as a CUDA
    graph where the run asks for graphs and can have them."""
    steps, batch, strategy = config.syn_steps, config.batch_syn, config.augment
    if config.cuda_graphs and config.memory == "full" and device.type == "cuda":

        def warn(text: str) -> None:
            emit(Warned(text))

        return RunUnrolls(
            GraphedFullMatch(
                net, labels, syn_steps=steps, batch_syn=batch, strategy=strategy, capture=True, on_capture_failed=warn
            ),
            GraphedMatchingLoss(
                net, labels, syn_steps=steps, batch_syn=batch, strategy=strategy, capture=True, on_capture_failed=warn
            ),
        )
    if config.cuda_graphs:
        emit(Noted(f"CUDA graphs need full memory mode on a CUDA GPU: this run ({config.memory}, {device}) has none"))

    def match(
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
            syn_steps=steps,
            batch_syn=batch,
            strategy=strategy,
            memory=config.memory,
            generator=generator,
        )

    def loss(
        start: torch.Tensor,
        target: torch.Tensor,
        images: torch.Tensor,
        log_lr: torch.Tensor,
        generator: torch.Generator,
    ) -> float:
        return matching_loss(
            net,
            start,
            target,
            images,
            labels,
            log_lr,
            syn_steps=steps,
            batch_syn=batch,
            strategy=strategy,
            generator=generator,
        )

    return RunUnrolls(match, loss)
