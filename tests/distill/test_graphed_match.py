"""The CUDA-graph form of full-mode matching computes `match_trajectory`'s iteration: on the CPU
(where it runs eagerly) to the bit, call after call with new inputs in the same buffers. The
capture itself needs a GPU: tests/gpu/test_cuda_distill.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import pytest
import torch

from galaxy_studio.distill.graphed_match import GraphedFullMatch, GraphedMatchingLoss
from galaxy_studio.distill.matching import MatchOutcome, match_trajectory, matching_loss
from galaxy_studio.distill.params import flat_parameters
from galaxy_studio.model.architectures import build_model

CLASSES, SIZE, STEPS = 3, 12, 4
T = TypeVar("T")


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("convnet-d3", n_classes=CLASSES, in_channels=3, size=SIZE, width=6)


def inputs(net: torch.nn.Module, seed: int, per_class: int = 4) -> tuple[torch.Tensor, ...]:
    generator = seeded(seed)
    start = flat_parameters(net).detach() + 0.01 * torch.randn(flat_parameters(net).shape, generator=generator)
    target = start + 0.01 * torch.randn(start.shape, generator=generator)
    images = torch.randn(CLASSES * per_class, 3, SIZE, SIZE, generator=generator)
    log_lr = torch.tensor(math.log(0.01 + 0.005 * seed))
    labels = torch.arange(CLASSES).repeat_interleave(per_class)
    return start, target, images, log_lr, labels


def eager(
    net: torch.nn.Module,
    problem: tuple[torch.Tensor, ...],
    seed: int,
    *,
    batch_syn: int | None = None,
    strategy: str = "dsa",
) -> MatchOutcome:
    start, target, images, log_lr, labels = problem
    return match_trajectory(
        net,
        start,
        target,
        images,
        labels,
        log_lr,
        syn_steps=STEPS,
        batch_syn=batch_syn,
        strategy=strategy,
        memory="full",
        generator=seeded(seed),
    )


def assert_same(a: MatchOutcome, b: MatchOutcome) -> None:
    assert a.loss == b.loss
    assert torch.equal(a.image_grad, b.image_grad) and torch.equal(a.log_lr_grad, b.log_lr_grad)


def graphed_call(graphed: Callable[..., T], problem: tuple[torch.Tensor, ...], seed: int) -> T:
    start, target, images, log_lr, _ = problem
    return graphed(start, target, images, log_lr, seeded(seed))


@pytest.mark.parametrize("strategy", ["galaxy", "dsa", "none"])
@pytest.mark.parametrize("batch_syn", [None, 5])
def test_each_call_is_match_trajectorys_full_mode_to_the_bit(
    net: torch.nn.Module, strategy: str, batch_syn: int | None
) -> None:
    labels = inputs(net, 0)[-1]
    graphed = GraphedFullMatch(net, labels, syn_steps=STEPS, batch_syn=batch_syn, strategy=strategy, capture=False)
    for call in range(3):
        problem = inputs(net, call)
        expected = eager(net, problem, 100 + call, batch_syn=batch_syn, strategy=strategy)
        assert_same(graphed_call(graphed, problem, 100 + call), expected)


@pytest.mark.parametrize("batch_syn", [None, 5])
def test_the_validation_loss_is_matching_losss_to_the_bit(net: torch.nn.Module, batch_syn: int | None) -> None:
    labels = inputs(net, 0)[-1]
    graphed = GraphedMatchingLoss(net, labels, syn_steps=STEPS, batch_syn=batch_syn, strategy="galaxy", capture=False)
    for call in range(3):
        start, target, images, log_lr, _ = problem = inputs(net, call)
        expected = matching_loss(
            net,
            start,
            target,
            images,
            labels,
            log_lr,
            syn_steps=STEPS,
            batch_syn=batch_syn,
            strategy="galaxy",
            generator=seeded(100 + call),
        )
        assert graphed_call(graphed, problem, 100 + call) == expected


def test_another_image_count_lays_the_buffers_out_again(net: torch.nn.Module) -> None:
    labels = inputs(net, 0)[-1]
    graphed = GraphedFullMatch(net, labels, syn_steps=STEPS, batch_syn=4, strategy="galaxy", capture=False)
    for per_class in (4, 3, 4):
        problem = inputs(net, per_class, per_class)
        graphed.labels = problem[-1]
        expected = eager(net, problem, 7, batch_syn=4, strategy="galaxy")
        assert_same(graphed_call(graphed, problem, 7), expected)


def test_a_failed_capture_is_reported_once_and_the_run_goes_on_eagerly(
    net: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []
    reports: list[str] = []

    def refuse(self: GraphedFullMatch) -> None:
        attempts.append(1)
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(GraphedFullMatch, "_captured", refuse)
    problem = inputs(net, 1)
    graphed = GraphedFullMatch(
        net,
        problem[-1],
        syn_steps=STEPS,
        batch_syn=None,
        strategy="dsa",
        capture=True,
        on_capture_failed=reports.append,
    )
    for call in range(2):
        assert_same(graphed_call(graphed, problem, call), eager(net, problem, call))
    assert len(attempts) == 1 and len(reports) == 1
    assert "could not be captured as a CUDA graph (operation not permitted" in reports[0]


def test_running_out_of_memory_while_capturing_is_not_hidden(
    net: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhaust(self: GraphedFullMatch) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(GraphedFullMatch, "_captured", exhaust)
    problem = inputs(net, 1)
    graphed = GraphedFullMatch(net, problem[-1], syn_steps=STEPS, batch_syn=None, strategy="dsa", capture=True)
    with pytest.raises(torch.OutOfMemoryError):
        graphed_call(graphed, problem, 0)


def test_a_diverging_or_empty_segment_is_refused_as_in_eager_mode(net: torch.nn.Module) -> None:
    start, target, images, log_lr, labels = inputs(net, 2)
    graphed = GraphedFullMatch(net, labels, syn_steps=STEPS, batch_syn=None, strategy="none", capture=False)
    with pytest.raises(FloatingPointError, match="the expert segment has squared length 0"):
        graphed(start, start, images, log_lr, seeded(0))
    with pytest.raises(FloatingPointError, match="trajectory matching diverged"):
        graphed(start, target, images * 1e30, log_lr + 40.0, seeded(0))
    with pytest.raises(ValueError, match="labels for"):
        graphed(start, target, images[:5], log_lr, seeded(0))
