"""One trajectory-matching iteration (MTT): unroll student SGD steps on the synthetic images
from an expert's snapshot and measure how far they land from the expert's later snapshot.

theta_0 = start, theta_{i+1} = theta_i - alpha * g_i with g_i = grad_theta CE(net(theta_i, A_i(x_{B_i})), y_{B_i}),
alpha = exp(log_lr) (so it can never turn negative), B_i the i-th minibatch and A_i the i-th
augmentation draw. loss = ||theta_N - target||^2 / ||start - target||^2.

Every minibatch and augmentation draw is planned from the caller's generator before the
unroll (one integer seed per step), so each step is a pure function of (theta, images, alpha)
and any memory mode can replay it exactly.

Memory modes, all returning d loss / d images and d loss / d log_lr:

- "full": keep the whole unrolled graph (inner gradients with create_graph) and backpropagate
  once. Memory grows linearly with syn_steps.
- "checkpointed": unroll once without a graph, keeping theta at the start of every segment of
  ceil(sqrt(syn_steps)) steps; then, from the last segment to the first, recompute the segment
  with its graph and backpropagate the adjoint d loss / d theta through it. The same arithmetic
  as "full" (only the order in which the segments' contributions are summed differs), so the
  same gradient to rounding; memory about sqrt(syn_steps) steps' graphs.
- "constant" (TESLA, Cui et al. 2023): unroll once without a graph to get theta_N and the sum of
  step gradients, then replay the steps one at a time, each with a one-step graph, and take the
  vector-Jacobian product of its gradient with the closed-form a = d loss / d theta_N =
  2 (theta_N - target) / ||start - target||^2. Memory is that of one step, whatever syn_steps.
  Its gradient is not the full one: since theta_N = start - alpha * sum_i g_i(theta_i, x), it
  keeps only the direct terms,
      d loss / d x     ~ -alpha * sum_i (d g_i / d x)^T a          (theta_i held fixed)
      d loss / d alpha ~ -a . sum_i g_i
  and drops every term where an earlier step's update moves theta_i (and so g_i): the
  Hessian-mediated paths d g_i / d theta_i . d theta_i / d x and d theta_i / d alpha. With one
  step there are no such paths and it equals "full"; the dropped terms carry one more factor of
  alpha than the kept ones, so the relative difference shrinks about linearly with alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from galaxy_studio.distill.augment import AUGMENT_STRATEGIES, augment
from galaxy_studio.distill.params import count_parameters, parameter_dict

MEMORY_MODES = ("full", "checkpointed", "constant")
_SEED_LIMIT = 2**62


@dataclass(frozen=True)
class MatchOutcome:
    loss: float
    image_grad: torch.Tensor
    log_lr_grad: torch.Tensor


@dataclass(frozen=True)
class Step:
    indices: torch.Tensor | None  # None: the whole synthetic set, in its own order
    seed: int


class _Unroll:
    """The planned student steps of one iteration, replayable by any memory mode."""

    def __init__(
        self,
        net: nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        syn_steps: int,
        batch_syn: int | None,
        strategy: str,
        generator: torch.Generator,
    ) -> None:
        self.net = net
        self.labels = labels
        self.strategy = strategy
        self.steps = plan_steps(images.shape[0], syn_steps, batch_syn, generator, images.device)

    def gradient(self, theta: torch.Tensor, step: Step, images: torch.Tensor, *, create_graph: bool) -> torch.Tensor:
        with torch.enable_grad():
            batch, labels = images, self.labels
            if step.indices is not None:
                batch, labels = images.index_select(0, step.indices), labels.index_select(0, step.indices)
            batch = augment(batch, self.strategy, generator=step_draws(step.seed))
            return step_gradient(self.net, theta, batch, labels, create_graph=create_graph)

    def run_without_graph(
        self, start: torch.Tensor, images: torch.Tensor, lr: torch.Tensor, keep_every: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(theta_N, sum of step gradients, theta at every `keep_every`-th step boundary)."""
        images = images.detach()
        lr = lr.detach()
        theta = start.detach()
        grad_sum = torch.zeros_like(theta)
        kept: list[torch.Tensor] = []
        for index, step in enumerate(self.steps):
            if keep_every and index % keep_every == 0:
                kept.append(theta)
            grad = self.gradient(theta, step, images, create_graph=False)
            with torch.no_grad():
                grad_sum += grad
                theta = theta - lr * grad
        return theta, grad_sum, kept

    def run_with_graph(
        self, theta: torch.Tensor, images: torch.Tensor, lr: torch.Tensor, steps: list[Step]
    ) -> torch.Tensor:
        for step in steps:
            theta = theta - lr * self.gradient(theta, step, images, create_graph=True)
        return theta


def step_gradient(
    net: nn.Module, theta: torch.Tensor, batch: torch.Tensor, labels: torch.Tensor, *, create_graph: bool
) -> torch.Tensor:
    """g_i at theta on an augmented batch; with create_graph, a differentiable function of
    theta, the images and alpha."""
    with torch.enable_grad():
        if not theta.requires_grad:
            theta = theta.detach().requires_grad_(True)
        logits = functional_call(net, parameter_dict(net, theta), (batch,))
        loss = F.cross_entropy(logits, labels)
        (grad,) = torch.autograd.grad(loss, theta, create_graph=create_graph)
    return grad


def step_draws(seed: int) -> torch.Generator:
    """The CPU generator a step's augmentation draws from."""
    draws = torch.Generator()
    draws.manual_seed(seed)
    return draws


def plan_steps(
    n_images: int, syn_steps: int, batch_syn: int | None, generator: torch.Generator, device: torch.device
) -> list[Step]:
    """Minibatches are consecutive slices of a random permutation, a fresh one when it runs out
    (every image is used equally often); then one augmentation seed per step."""
    if batch_syn is None or batch_syn >= n_images:
        batches: list[torch.Tensor | None] = [None] * syn_steps
    else:
        batches = []
        while len(batches) < syn_steps:
            order = torch.randperm(n_images, generator=generator, device=generator.device)
            batches += [chunk.to(device, non_blocking=True) for chunk in order.split(batch_syn)]
        batches = batches[:syn_steps]
    seeds = torch.randint(_SEED_LIMIT, (syn_steps,), generator=generator, device=generator.device).tolist()
    return [Step(indices, seed) for indices, seed in zip(batches, seeds)]


def check_inputs(
    net: nn.Module,
    start: torch.Tensor,
    target: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    syn_steps: int,
    batch_syn: int | None,
    strategy: str,
) -> None:
    n_parameters = count_parameters(net)
    for name, vector in (("start", start), ("target", target)):
        if vector.dim() != 1 or vector.numel() != n_parameters:
            raise ValueError(f"{name} parameters have shape {tuple(vector.shape)}; the network has {n_parameters}")
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"synthetic images must be a non-empty NCHW batch, got shape {tuple(images.shape)}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {images.shape[0]} synthetic images")
    if syn_steps < 1:
        raise ValueError(f"syn_steps must be at least 1, got {syn_steps}")
    if batch_syn is not None and batch_syn < 1:
        raise ValueError(f"batch_syn must be at least 1 (or None for all images), got {batch_syn}")
    if strategy not in AUGMENT_STRATEGIES:
        raise ValueError(f"augmentation must be one of {', '.join(AUGMENT_STRATEGIES)}, got {strategy!r}")


def squared_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).sum()


def _checked_loss(
    end: torch.Tensor, start: torch.Tensor, target: torch.Tensor, lr: torch.Tensor, syn_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, expert distance), or FloatingPointError with the quantities that went wrong."""
    with torch.no_grad():
        span = squared_distance(start, target)
        reach = squared_distance(end, target)
    check_distances(span, reach, lr, syn_steps)
    return reach / span, span


def check_distances(span: torch.Tensor, reach: torch.Tensor, lr: torch.Tensor, syn_steps: int) -> None:
    """FloatingPointError, with the quantities that went wrong, unless the expert segment's
    squared length `span` is finite and positive and the student's squared distance `reach`
    from the target is finite."""
    span_value, reach_value = float(span), float(reach)
    if not math.isfinite(span_value) or span_value == 0.0:
        raise FloatingPointError(
            f"the expert segment has squared length {span_value}: start and target parameters must differ and be finite"
        )
    if not math.isfinite(reach_value):
        raise FloatingPointError(
            f"trajectory matching diverged: after {syn_steps} student steps with lr {float(lr.detach()):.3g} the "
            f"squared distance to the target is {reach_value} (expert segment {span_value:.4g}); "
            "lower the image or lr learning rate, or the number of steps"
        )


def check_gradients(image_grad: torch.Tensor, log_lr_grad: torch.Tensor, loss: float, lr: float) -> None:
    if not bool(torch.isfinite(image_grad).all()) or not math.isfinite(float(log_lr_grad)):
        raise FloatingPointError(
            f"trajectory matching gave non-finite gradients (loss {loss:.4g}, lr {lr:.3g}, "
            f"d loss / d log_lr {float(log_lr_grad)}); the images were left unchanged"
        )


def match_trajectory(
    net: nn.Module,
    start: torch.Tensor,
    target: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    log_lr: torch.Tensor,
    *,
    syn_steps: int,
    batch_syn: int | None,
    strategy: str,
    memory: str,
    generator: torch.Generator,
) -> MatchOutcome:
    """The loss and its gradients with respect to `images` and `log_lr` (see the module
    docstring). Leaves `images`, `log_lr` and every optimiser alone: the caller steps them."""
    if memory not in MEMORY_MODES:
        raise ValueError(f"memory mode must be one of {', '.join(MEMORY_MODES)}, got {memory!r}")
    check_inputs(net, start, target, images, labels, syn_steps, batch_syn, strategy)
    unroll = _Unroll(
        net, images, labels, syn_steps=syn_steps, batch_syn=batch_syn, strategy=strategy, generator=generator
    )
    images_leaf = images.detach().requires_grad_(True)
    log_lr_leaf = log_lr.detach().clone().reshape(()).requires_grad_(True)
    start = start.detach()
    target = target.detach()
    if memory == "full":
        loss, image_grad, log_lr_grad = _full(unroll, start, target, images_leaf, log_lr_leaf)
    elif memory == "checkpointed":
        loss, image_grad, log_lr_grad = _checkpointed(unroll, start, target, images_leaf, log_lr_leaf)
    else:
        loss, image_grad, log_lr_grad = _constant(unroll, start, target, images_leaf, log_lr_leaf)
    check_gradients(image_grad, log_lr_grad, loss, math.exp(float(log_lr_leaf.detach())))
    return MatchOutcome(loss, image_grad, log_lr_grad)


def _full(
    unroll: _Unroll, start: torch.Tensor, target: torch.Tensor, images: torch.Tensor, log_lr: torch.Tensor
) -> tuple[float, torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        lr = log_lr.exp()
        end = unroll.run_with_graph(start.detach().requires_grad_(True), images, lr, unroll.steps)
        _, span = _checked_loss(end, start, target, lr, len(unroll.steps))
        loss = squared_distance(end, target) / span
        image_grad, log_lr_grad = torch.autograd.grad(loss, [images, log_lr])
    return float(loss.detach()), image_grad, log_lr_grad


def _checkpointed(
    unroll: _Unroll, start: torch.Tensor, target: torch.Tensor, images: torch.Tensor, log_lr: torch.Tensor
) -> tuple[float, torch.Tensor, torch.Tensor]:
    segment = math.ceil(math.sqrt(len(unroll.steps)))
    lr = log_lr.detach().exp()
    end, _, boundaries = unroll.run_without_graph(start, images, lr, keep_every=segment)
    loss, span = _checked_loss(end, start, target, lr, len(unroll.steps))
    adjoint = 2.0 * (end - target) / span
    image_grad = torch.zeros_like(images)
    log_lr_grad = torch.zeros_like(log_lr)
    with torch.enable_grad():
        for index in reversed(range(len(boundaries))):
            first = boundaries[index].detach().requires_grad_(True)
            steps = unroll.steps[index * segment : (index + 1) * segment]
            last = unroll.run_with_graph(first, images, log_lr.exp(), steps)
            inputs = [images, log_lr] if index == 0 else [images, log_lr, first]
            grads = torch.autograd.grad(last, inputs, grad_outputs=adjoint, allow_unused=True)
            if grads[0] is not None:
                image_grad += grads[0]
            if grads[1] is not None:
                log_lr_grad += grads[1]
            if index > 0:
                adjoint = grads[2]
    return float(loss), image_grad, log_lr_grad


def _constant(
    unroll: _Unroll, start: torch.Tensor, target: torch.Tensor, images: torch.Tensor, log_lr: torch.Tensor
) -> tuple[float, torch.Tensor, torch.Tensor]:
    lr = log_lr.detach().exp()
    end, grad_sum, _ = unroll.run_without_graph(start, images, lr)
    loss, span = _checked_loss(end, start, target, lr, len(unroll.steps))
    adjoint = 2.0 * (end - target) / span
    image_grad = torch.zeros_like(images)
    theta = start
    for step in unroll.steps:
        with torch.enable_grad():
            grad = unroll.gradient(theta, step, images, create_graph=True)
            (step_image_grad,) = torch.autograd.grad(grad, images, grad_outputs=adjoint, allow_unused=True)
        with torch.no_grad():
            if step_image_grad is not None:
                image_grad -= lr * step_image_grad
            theta = theta - lr * grad.detach()
    # d loss / d log_lr = d loss / d alpha * alpha, with d theta_N / d alpha = -sum_i g_i.
    log_lr_grad = -(adjoint * grad_sum).sum() * lr
    return float(loss), image_grad, log_lr_grad


def matching_loss(
    net: nn.Module,
    start: torch.Tensor,
    target: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    log_lr: torch.Tensor,
    *,
    syn_steps: int,
    batch_syn: int | None,
    strategy: str,
    generator: torch.Generator,
) -> float:
    """The same normalised loss without a graph to the images, e.g. STM's validation loss on
    the next, not yet trained, expert segment."""
    check_inputs(net, start, target, images, labels, syn_steps, batch_syn, strategy)
    unroll = _Unroll(
        net, images, labels, syn_steps=syn_steps, batch_syn=batch_syn, strategy=strategy, generator=generator
    )
    lr = log_lr.detach().reshape(()).exp()
    end, _, _ = unroll.run_without_graph(start.detach(), images, lr)
    loss, _ = _checked_loss(end, start.detach(), target.detach(), lr, syn_steps)
    return float(loss)
