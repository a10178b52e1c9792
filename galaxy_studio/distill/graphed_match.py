"""Full-mode trajectory matching, and STM's validation loss, replayed as CUDA graphs.

At 32 px the GPU waits on the CPU: one unrolled step issues about 590 small operators (the
forward pass, the create-graph gradient and, later, its backward), and an H200 took as long
per iteration at 32 px as a 2-core CPU takes on a problem a hundred times smaller
(docs/gpu-results.md). A CUDA graph records the kernels of one whole iteration once and then
launches all of them at once, without Python or the dispatcher in between.

A graph replays fixed kernels on fixed memory, so whatever changes between iterations is data
copied into buffers the graph reads: the expert's start and target, the images, log(lr), and
each step's minibatch indices and augmentation, the family chosen by a weight instead of by a
Python branch (`PlannedAugmentation`). The plan comes from the caller's generator in the same
order as `match_trajectory` and `matching_loss` draw it, so both compute the same iteration.
Where graphs cannot be captured (the CPU) the same planned function runs eagerly, which is how
the tests hold it to the eager functions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import nn

from galaxy_studio.distill.augment import Draws, PlannedAugmentation, apply_planned, plan_augmentation
from galaxy_studio.distill.matching import (
    MatchOutcome,
    check_distances,
    check_gradients,
    check_inputs,
    plan_steps,
    squared_distance,
    step_draws,
    step_gradient,
)

# Runs before the capture, on a side stream, as PyTorch's CUDA-graph notes ask: the first runs
# initialise cuDNN and the autograd engine's per-device state, which must not be recorded.
WARM_UP_RUNS = 2

Result = TypeVar("Result")


@dataclass(frozen=True)
class _PlannedStep:
    indices: torch.Tensor | None
    weights: torch.Tensor
    draws: tuple[Draws, ...]


class _Layout:
    """Where each tensor of a plan lies in one float and one integer buffer, so that a new plan
    reaches the GPU in two copies rather than hundreds."""

    def __init__(self, tensors: list[torch.Tensor]) -> None:
        self.slots: list[tuple[bool, int, torch.Size]] = []
        self.sizes = [0, 0]
        for tensor in tensors:
            is_float = tensor.is_floating_point()
            self.slots.append((is_float, self.sizes[is_float], tensor.shape))
            self.sizes[is_float] += tensor.numel()

    def key(self) -> tuple[tuple[bool, torch.Size], ...]:
        return tuple((is_float, shape) for is_float, _, shape in self.slots)

    def pack(self, tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        floats = [t.flatten().float() for t in tensors if t.is_floating_point()]
        ints = [t.flatten().long() for t in tensors if not t.is_floating_point()]
        return (
            torch.cat(floats) if floats else torch.zeros(0),
            torch.cat(ints) if ints else torch.zeros(0, dtype=torch.long),
        )

    def views(self, floats: torch.Tensor, ints: torch.Tensor) -> list[torch.Tensor]:
        buffers = (ints, floats)
        return [buffers[is_float][start : start + shape.numel()].view(shape) for is_float, start, shape in self.slots]


class _GraphedUnroll(ABC, Generic[Result]):
    """An unroll of one run's fixed network, labels and settings over buffers; with `capture`,
    each call after the first replays a CUDA graph of the first. Subclasses say what the
    unroll computes."""

    needs_image_gradient = True

    def __init__(
        self,
        net: nn.Module,
        labels: torch.Tensor,
        *,
        syn_steps: int,
        batch_syn: int | None,
        strategy: str,
        capture: bool,
        on_capture_failed: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.net = net
        self.labels = labels
        self.syn_steps = syn_steps
        self.batch_syn = batch_syn
        self.strategy = strategy
        self.capture = capture
        self.on_capture_failed = on_capture_failed
        self._layout_key: tuple[torch.Size, tuple[tuple[bool, torch.Size], ...]] | None = None
        self._graph: torch.cuda.CUDAGraph | None = None

    def __call__(
        self,
        start: torch.Tensor,
        target: torch.Tensor,
        images: torch.Tensor,
        log_lr: torch.Tensor,
        generator: torch.Generator,
    ) -> Result:
        """What the eager function gives for the same arguments and generator."""
        return self._result(self._replayed(start, target, images, log_lr, generator))

    @abstractmethod
    def _result(self, outputs: tuple[torch.Tensor, ...]) -> Result:
        """The result from the unroll's outputs, checked as the eager function checks it."""

    def _replayed(
        self,
        start: torch.Tensor,
        target: torch.Tensor,
        images: torch.Tensor,
        log_lr: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, ...]:
        """The unroll's outputs for these inputs: replayed, captured first, or run eagerly.
        They live in the graph's memory until the next call."""
        check_inputs(self.net, start, target, images, self.labels, self.syn_steps, self.batch_syn, self.strategy)
        tensors, structure = self._plan(images, generator)
        layout = _Layout(tensors)
        if (images.shape, layout.key()) != self._layout_key:
            self._allocate(start, target, images, log_lr, layout, structure)
        floats, ints = layout.pack(tensors)
        with torch.no_grad():
            self._start.copy_(start)
            self._target.copy_(target)
            self._images.copy_(images)
            self._log_lr.copy_(log_lr.reshape(()))
            self._floats.copy_(floats)
            self._ints.copy_(ints)
        if self.capture and self._graph is None:
            self._graph = self._captured_or_none()
        if self._graph is None:
            return self._unrolled()
        self._graph.replay()
        return self._outputs

    def _checked_loss(self, span: torch.Tensor, reach: torch.Tensor) -> float:
        check_distances(span, reach, self._log_lr.detach().exp(), self.syn_steps)
        return float(reach / span)

    @abstractmethod
    def _unrolled(self) -> tuple[torch.Tensor, ...]:
        """The outputs from the buffers; what is captured and replayed."""

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Each step's augmented minibatch and its labels, read from the buffers."""
        for step in self._steps:
            batch, labels = self._images, self.labels
            if step.indices is not None:
                batch, labels = batch.index_select(0, step.indices), labels.index_select(0, step.indices)
            yield apply_planned(batch, self.strategy, step.weights, step.draws), labels

    def _plan(self, images: torch.Tensor, generator: torch.Generator) -> tuple[list[torch.Tensor], list[list[int]]]:
        """The iteration's minibatches and augmentation draws as a flat list of CPU tensors,
        with, per step, how many of them each family holds (the indices first, when the step
        takes a minibatch)."""
        n_images, _, height, width = images.shape
        steps = plan_steps(n_images, self.syn_steps, self.batch_syn, generator, torch.device("cpu"))
        tensors: list[torch.Tensor] = []
        structure: list[list[int]] = []
        for step in steps:
            n = n_images if step.indices is None else step.indices.numel()
            plan: PlannedAugmentation = plan_augmentation(self.strategy, n, height, width, step_draws(step.seed))
            if step.indices is not None:
                tensors.append(step.indices)
            tensors.extend(plan.tensors())
            structure.append([int(step.indices is not None), *(len(draws) for draws in plan.draws)])
        return tensors, structure

    def _allocate(
        self,
        start: torch.Tensor,
        target: torch.Tensor,
        images: torch.Tensor,
        log_lr: torch.Tensor,
        layout: _Layout,
        structure: list[list[int]],
    ) -> None:
        """The buffers the unroll reads; other images (another count or size) need new buffers
        and a new graph."""
        device = images.device
        self._start = torch.empty_like(start.detach())
        self._target = torch.empty_like(target.detach())
        self._images = torch.empty_like(images.detach()).requires_grad_(self.needs_image_gradient)
        self._log_lr = torch.empty((), dtype=log_lr.dtype, device=device).requires_grad_(self.needs_image_gradient)
        self._floats = torch.empty(layout.sizes[1], device=device)
        self._ints = torch.empty(layout.sizes[0], dtype=torch.long, device=device)
        views = iter(layout.views(self._floats, self._ints))
        self._steps: list[_PlannedStep] = []
        for has_indices, *counts in structure:
            indices = next(views) if has_indices else None
            weights = next(views)
            draws = tuple(tuple(next(views) for _ in range(count)) for count in counts)
            self._steps.append(_PlannedStep(indices, weights, draws))
        self._layout_key = (images.shape, layout.key())
        self._graph = None

    def _captured_or_none(self) -> torch.cuda.CUDAGraph | None:
        """The graph; or, where the GPU or driver cannot capture the unroll, None after saying
        why through `on_capture_failed`, and the run goes on without graphs. Running out of
        memory is not such a failure: the caller's advice for it holds."""
        try:
            return self._captured()
        except torch.OutOfMemoryError:
            raise
        except RuntimeError as exc:
            self.capture = False
            self.on_capture_failed(f"the unroll could not be captured as a CUDA graph ({exc}); it runs without one")
            return None

    def _captured(self) -> torch.cuda.CUDAGraph:
        device = self._images.device
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(WARM_UP_RUNS):
                self._unrolled()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the GUI thread may touch CUDA (device memory readouts) while a job's
        # thread captures.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._outputs = self._unrolled()
        return graph


class GraphedFullMatch(_GraphedUnroll[MatchOutcome]):
    """`match_trajectory(..., memory="full")`: the loss and its gradients with respect to the
    images and log(lr)."""

    def _result(self, outputs: tuple[torch.Tensor, ...]) -> MatchOutcome:
        span, reach, image_grad, log_lr_grad = outputs
        outcome = MatchOutcome(self._checked_loss(span, reach), image_grad.clone(), log_lr_grad.clone())
        check_gradients(outcome.image_grad, outcome.log_lr_grad, outcome.loss, float(self._log_lr.detach().exp()))
        return outcome

    def _unrolled(self) -> tuple[torch.Tensor, ...]:
        """(expert span, student distance, d loss / d images, d loss / d log_lr) from the
        buffers, with the arithmetic of `match_trajectory`'s full mode."""
        with torch.enable_grad(), _uncached_autocast():
            lr = self._log_lr.exp()
            theta = self._start.detach().requires_grad_(True)
            for batch, labels in self._batches():
                theta = theta - lr * step_gradient(self.net, theta, batch, labels, create_graph=True)
            with torch.no_grad():
                span = squared_distance(self._start, self._target)
            reach = squared_distance(theta, self._target)
            image_grad, log_lr_grad = torch.autograd.grad(reach / span, [self._images, self._log_lr])
        return span, reach.detach(), image_grad, log_lr_grad


class GraphedMatchingLoss(_GraphedUnroll[float]):
    """`matching_loss`: the loss alone, STM's validation on the next expert segment, which
    every iteration of a run computes beside the matching."""

    needs_image_gradient = False

    def _result(self, outputs: tuple[torch.Tensor, ...]) -> float:
        span, reach = outputs
        return self._checked_loss(span, reach)

    def _unrolled(self) -> tuple[torch.Tensor, ...]:
        """(expert span, student distance) with the arithmetic of `matching_loss`."""
        with _uncached_autocast():
            with torch.no_grad():
                lr = self._log_lr.exp()
            theta = self._start
            for batch, labels in self._batches():
                grad = step_gradient(self.net, theta, batch, labels, create_graph=False)
                with torch.no_grad():
                    theta = theta - lr * grad
            with torch.no_grad():
                return squared_distance(self._start, self._target), squared_distance(theta, self._target)


def _uncached_autocast() -> AbstractContextManager[object]:
    """bf16 autocast (model/precision.py) without its cache of cast weights: a cached cast made
    while capturing would be memory the graph does not own (PyTorch's CUDA-graph notes)."""
    if not torch.is_autocast_enabled("cuda"):
        return nullcontext()
    return torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False)
