"""The matching step against independent naive implementations written here, and its memory modes
against each other."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from galaxy_studio.distill.matching import MEMORY_MODES, MatchOutcome, match_trajectory, matching_loss
from galaxy_studio.distill.params import count_parameters, flat_parameters, parameter_dict
from galaxy_studio.model.architectures import build_model

CHANNELS, SIZE, HIDDEN, CLASSES = 2, 4, 6, 3


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(CHANNELS * SIZE * SIZE, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, CLASSES)
    ).double()


def mlp_by_hand(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The same MLP written from slices of the flat vector (weight, bias, weight, bias)."""
    d = CHANNELS * SIZE * SIZE
    w1, rest = theta[: HIDDEN * d].view(HIDDEN, d), theta[HIDDEN * d :]
    b1, rest = rest[:HIDDEN], rest[HIDDEN:]
    w2, b2 = rest[: CLASSES * HIDDEN].view(CLASSES, HIDDEN), rest[CLASSES * HIDDEN :]
    return torch.tanh(x.flatten(1) @ w1.T + b1) @ w2.T + b2


def problem(
    net: nn.Module,
    n: int = 6,
    size: int = SIZE,
    channels: int = CHANNELS,
    drift: float = 0.05,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = seeded(11)
    start = flat_parameters(net).to(dtype)
    target = start + drift * torch.randn(start.shape, generator=generator, dtype=dtype)
    images = torch.randn(n, channels, size, size, generator=generator, dtype=dtype)
    labels = torch.arange(n) % CLASSES
    return start, target, images, labels


def naive_unroll(
    start: torch.Tensor, target: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, lr: float, steps: int
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """MTT as the paper writes it: a python loop of SGD steps with create_graph, one backward."""
    x = images.clone().requires_grad_(True)
    log_lr = torch.tensor(math.log(lr), dtype=torch.float64, requires_grad=True)
    theta = start.clone().requires_grad_(True)
    for _ in range(steps):
        ce = F.cross_entropy(mlp_by_hand(theta, x), labels)
        (g,) = torch.autograd.grad(ce, theta, create_graph=True)
        theta = theta - torch.exp(log_lr) * g
    loss = ((theta - target) ** 2).sum() / ((start - target) ** 2).sum()
    grad_x, grad_log_lr = torch.autograd.grad(loss, [x, log_lr])
    return float(loss.detach()), grad_x, grad_log_lr


def naive_tesla(
    start: torch.Tensor, target: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, lr: float, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """TESLA's direct-term gradient: every theta_i held fixed, alpha only through sum_i g_i."""
    thetas, grads = [start], []
    for _ in range(steps):
        theta = thetas[-1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(mlp_by_hand(theta, images), labels), theta)
        grads.append(g)
        thetas.append(thetas[-1] - lr * g)
    adjoint = 2 * (thetas[-1] - target) / ((start - target) ** 2).sum()
    grad_x = torch.zeros_like(images)
    for theta in thetas[:-1]:
        x = images.clone().requires_grad_(True)
        theta = theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(mlp_by_hand(theta, x), labels), theta, create_graph=True)
        grad_x -= lr * torch.autograd.grad((g * adjoint).sum(), x)[0]
    return grad_x, -lr * (adjoint * sum(grads)).sum()


def run(
    net: nn.Module,
    start: torch.Tensor,
    target: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    lr: float,
    steps: int,
    memory: str,
    *,
    batch_syn: int | None = None,
    strategy: str = "none",
    seed: int = 5,
) -> MatchOutcome:
    log_lr = torch.tensor(math.log(lr), dtype=start.dtype)
    return match_trajectory(
        net,
        start,
        target,
        images,
        labels,
        log_lr,
        syn_steps=steps,
        batch_syn=batch_syn,
        strategy=strategy,
        memory=memory,
        generator=seeded(seed),
    )


def tiny_convnet(dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(1)
    return build_model("convnet-d3", n_classes=CLASSES, in_channels=3, size=8, width=4).to(dtype)


def test_parameter_views_follow_named_parameters_and_carry_gradients() -> None:
    net = mlp()
    flat = flat_parameters(net)
    assert flat.dtype == torch.float32 and flat.numel() == count_parameters(net) == 6 * 32 + 6 + 3 * 6 + 3
    assert torch.equal(flat, torch.nn.utils.parameters_to_vector(net.parameters()).float())
    theta = flat.double().requires_grad_(True)
    views = parameter_dict(net, theta)
    assert list(views) == [name for name, _ in net.named_parameters()]
    assert all(views[name].shape == p.shape for name, p in net.named_parameters())
    (views["3.bias"] * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    assert torch.equal(theta.grad[-3:], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert theta.grad[:-3].abs().sum() == 0
    with pytest.raises(ValueError, match="network has 219 parameters"):
        parameter_dict(net, torch.zeros(10))


@pytest.mark.parametrize("steps", [1, 4])
def test_full_equals_the_naive_unroll(steps: int) -> None:
    net = mlp()
    start, target, images, labels = problem(net)
    loss, grad_x, grad_log_lr = naive_unroll(start, target, images, labels, 0.3, steps)
    outcome = run(net, start, target, images, labels, 0.3, steps, "full")
    assert outcome.loss == pytest.approx(loss, rel=1e-5)
    assert relative_error(outcome.image_grad, grad_x) < 1e-5
    assert outcome.log_lr_grad.shape == ()
    assert float(outcome.log_lr_grad) == pytest.approx(float(grad_log_lr), rel=1e-5)


@pytest.mark.parametrize("memory", ["checkpointed", "constant"])
def test_every_mode_reports_the_same_loss_as_the_naive_unroll(memory: str) -> None:
    net = mlp()
    start, target, images, labels = problem(net)
    loss, _, _ = naive_unroll(start, target, images, labels, 0.3, 5)
    assert run(net, start, target, images, labels, 0.3, 5, memory).loss == pytest.approx(loss, rel=1e-9)


@pytest.mark.parametrize("steps", [1, 5, 7, 9])
def test_checkpointed_gives_the_full_gradient(steps: int) -> None:
    net = tiny_convnet()
    start, target, images, labels = problem(net, n=8, size=8, channels=3)
    full = run(net, start, target, images, labels, 0.05, steps, "full", batch_syn=3, strategy="dsa")
    checkpointed = run(net, start, target, images, labels, 0.05, steps, "checkpointed", batch_syn=3, strategy="dsa")
    assert checkpointed.loss == pytest.approx(full.loss, rel=1e-12)
    assert relative_error(checkpointed.image_grad, full.image_grad) < 1e-9
    assert float(checkpointed.log_lr_grad) == pytest.approx(float(full.log_lr_grad), rel=1e-9)


def test_checkpointed_gives_the_full_gradient_in_float32() -> None:
    net = tiny_convnet(torch.float32)
    start, target, images, labels = problem(net, n=8, size=8, channels=3, dtype=torch.float32)
    full = run(net, start, target, images, labels, 0.05, 6, "full", batch_syn=4, strategy="galaxy")
    checkpointed = run(net, start, target, images, labels, 0.05, 6, "checkpointed", batch_syn=4, strategy="galaxy")
    assert relative_error(checkpointed.image_grad, full.image_grad) < 1e-5
    assert float(checkpointed.log_lr_grad) == pytest.approx(float(full.log_lr_grad), rel=1e-5)


def test_constant_equals_full_for_one_step() -> None:
    net = tiny_convnet()
    start, target, images, labels = problem(net, n=8, size=8, channels=3)
    full = run(net, start, target, images, labels, 0.1, 1, "full", batch_syn=5, strategy="dsa")
    constant = run(net, start, target, images, labels, 0.1, 1, "constant", batch_syn=5, strategy="dsa")
    assert relative_error(constant.image_grad, full.image_grad) < 1e-9
    assert float(constant.log_lr_grad) == pytest.approx(float(full.log_lr_grad), rel=1e-9)


def test_constant_equals_the_naive_direct_term_gradient() -> None:
    net = mlp()
    start, target, images, labels = problem(net)
    grad_x, grad_log_lr = naive_tesla(start, target, images, labels, 0.3, 6)
    constant = run(net, start, target, images, labels, 0.3, 6, "constant")
    assert relative_error(constant.image_grad, grad_x) < 1e-9
    assert float(constant.log_lr_grad) == pytest.approx(float(grad_log_lr), rel=1e-9)


def test_constant_approaches_full_as_the_learning_rate_shrinks() -> None:
    net = mlp()
    start, target, images, labels = problem(net, drift=0.01)
    gaps = []
    for lr in (0.1, 0.01, 0.001):
        full = run(net, start, target, images, labels, lr, 6, "full")
        constant = run(net, start, target, images, labels, lr, 6, "constant")
        gaps.append(relative_error(constant.image_grad, full.image_grad))
    # the dropped terms carry one more factor of lr: the gap shrinks about tenfold per decade
    assert gaps[0] > 0.1
    assert gaps[1] < gaps[0] / 4 and gaps[2] < gaps[1] / 4
    assert gaps[2] < 0.005


def test_minibatches_use_each_image_once_per_permutation() -> None:
    net = tiny_convnet()
    start, target, images, labels = problem(net, n=6, size=8, channels=3)
    touched_two = run(net, start, target, images, labels, 0.05, 2, "full", batch_syn=2)
    touched_all = run(net, start, target, images, labels, 0.05, 3, "full", batch_syn=2)
    assert int((touched_two.image_grad.flatten(1).abs().sum(1) > 0).sum()) == 4
    assert bool((touched_all.image_grad.flatten(1).abs().sum(1) > 0).all())


@pytest.mark.parametrize("memory", MEMORY_MODES)
def test_the_generator_decides_every_draw(memory: str) -> None:
    net = tiny_convnet()
    start, target, images, labels = problem(net, n=8, size=8, channels=3)
    first = run(net, start, target, images, labels, 0.05, 3, memory, batch_syn=4, strategy="galaxy", seed=1)
    again = run(net, start, target, images, labels, 0.05, 3, memory, batch_syn=4, strategy="galaxy", seed=1)
    other = run(net, start, target, images, labels, 0.05, 3, memory, batch_syn=4, strategy="galaxy", seed=2)
    assert first.loss == again.loss and torch.equal(first.image_grad, again.image_grad)
    assert first.loss != other.loss and not torch.equal(first.image_grad, other.image_grad)


@pytest.mark.parametrize("memory", MEMORY_MODES)
def test_matching_loss_is_the_loss_without_gradients(memory: str) -> None:
    net = tiny_convnet()
    start, target, images, labels = problem(net, n=8, size=8, channels=3)
    outcome = run(net, start, target, images, labels, 0.05, 4, memory, batch_syn=3, strategy="dsa", seed=9)
    with torch.no_grad():
        loss = matching_loss(
            net,
            start,
            target,
            images,
            labels,
            torch.tensor(math.log(0.05), dtype=torch.float64),
            syn_steps=4,
            batch_syn=3,
            strategy="dsa",
            generator=seeded(9),
        )
    assert loss == pytest.approx(outcome.loss, rel=1e-12)


def test_soft_labels_match_their_one_hot_class_indices() -> None:
    net = mlp()
    start, target, images, labels = problem(net)
    hard = run(net, start, target, images, labels, 0.3, 3, "full")
    soft = run(net, start, target, images, F.one_hot(labels, CLASSES).double(), 0.3, 3, "full")
    assert soft.loss == pytest.approx(hard.loss, rel=1e-12)
    assert relative_error(soft.image_grad, hard.image_grad) < 1e-12


def test_the_callers_tensors_are_left_alone() -> None:
    net = mlp()
    start, target, images, labels = problem(net)
    saved = start.clone(), images.clone()
    log_lr = torch.tensor(math.log(0.3), dtype=torch.float64, requires_grad=True)
    match_trajectory(
        net,
        start,
        target,
        images,
        labels,
        log_lr,
        syn_steps=2,
        batch_syn=None,
        strategy="none",
        memory="full",
        generator=seeded(0),
    )
    assert torch.equal(start, saved[0]) and torch.equal(images, saved[1])
    assert not images.requires_grad and not start.requires_grad and log_lr.grad is None
    assert all(p.grad is None for p in net.parameters())


class SavedTensorMeter:
    """Bytes of tensors autograd holds for backward, live and at their peak: the memory a mode's
    graphs cost, measured exactly and without the allocator's noise."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0

    def pack(self, tensor: torch.Tensor) -> SavedTensor:
        self.live += tensor.nbytes
        self.peak = max(self.peak, self.live)
        return SavedTensor(tensor, self)

    def unpack(self, saved: SavedTensor) -> torch.Tensor:
        return saved.tensor


class SavedTensor:
    def __init__(self, tensor: torch.Tensor, meter: SavedTensorMeter) -> None:
        self.tensor, self.meter, self.nbytes = tensor, meter, tensor.nbytes

    def __del__(self) -> None:
        self.meter.live -= self.nbytes


def graph_peak(memory: str, steps: int) -> int:
    net = tiny_convnet(torch.float32)
    start, target, images, labels = problem(net, n=6, size=8, channels=3, dtype=torch.float32)
    meter = SavedTensorMeter()
    with torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack):
        run(net, start, target, images, labels, 0.01, steps, memory)
    assert meter.live == 0
    return meter.peak


def test_graph_memory_grows_linearly_with_full_by_the_square_root_checkpointed_and_not_constant() -> None:
    growth = {memory: graph_peak(memory, 27) / graph_peak(memory, 3) for memory in MEMORY_MODES}
    # 9x the steps: full keeps 9x the graphs, checkpointed one segment of ceil(sqrt(steps)): 6 vs 2
    assert 8 < growth["full"] < 10
    assert 2.5 < growth["checkpointed"] < 3.5
    assert growth["constant"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("memory", MEMORY_MODES)
def test_divergence_is_an_error_naming_the_step_size(memory: str) -> None:
    net = tiny_convnet(torch.float32)
    start, target, images, labels = problem(net, n=4, size=8, channels=3, dtype=torch.float32)
    with pytest.raises(FloatingPointError, match=r"diverged: after 3 student steps with lr"):
        run(net, start, target, images, labels, math.exp(80.0), 3, memory)
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="not finite|diverged"):
        run(net, start, target, images, labels, 0.01, 3, memory)


def test_an_empty_expert_segment_is_refused() -> None:
    net = mlp()
    start, _, images, labels = problem(net)
    with pytest.raises(FloatingPointError, match="start and target parameters must differ"):
        run(net, start, start.clone(), images, labels, 0.1, 2, "full")


def test_bad_arguments_are_refused_with_their_names() -> None:
    net = mlp()
    start, target, images, labels = problem(net)
    with pytest.raises(ValueError, match="memory mode must be one of"):
        run(net, start, target, images, labels, 0.1, 2, "cheap")
    with pytest.raises(ValueError, match="start parameters have shape"):
        run(net, start[:-1], target, images, labels, 0.1, 2, "full")
    with pytest.raises(ValueError, match="5 labels for 6 synthetic images"):
        run(net, start, target, images, labels[:5], 0.1, 2, "full")
    with pytest.raises(ValueError, match="syn_steps must be at least 1"):
        run(net, start, target, images, labels, 0.1, 0, "full")
