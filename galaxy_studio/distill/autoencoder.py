"""The shallow autoencoder, the linear head and the loss terms of unsupervised distillation.

Seed paper 002: a D -> hidden ReLU encoder, a hidden -> D sigmoid decoder (optionally the
encoder's transposed weights, "tied"), and a hidden -> classes linear head. The loss terms are
separate functions so that a test can check each against an explicit computation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Added to squared nearest-neighbour distances so that exact duplicates give a large but finite repulsion.
_REPULSION_EPS = 1e-4


class ShallowAutoencoder(nn.Module):
    """D -> hidden (ReLU) -> D (sigmoid); with `tied` the decoder reuses the encoder's weight
    transposed and learns only its bias, which the seed report found less prone to collapse."""

    def __init__(self, features: int, hidden: int, *, tied: bool = False) -> None:
        super().__init__()
        self.features, self.hidden, self.tied = features, hidden, tied
        self.encoder = nn.Linear(features, hidden)
        if tied:
            self.decoder_bias = nn.Parameter(torch.zeros(features))
        else:
            self.decoder = nn.Linear(hidden, features)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.tied:
            return torch.sigmoid(F.linear(z, self.encoder.weight.t(), self.decoder_bias))
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def reconstruction_loss(autoencoder: ShallowAutoencoder, x: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(autoencoder(x), x)


def synthetic_reconstruction_terms(
    autoencoder: ShallowAutoencoder, synthetic: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_rec, ||dL_rec/dS||): the reconstruction error of the synthetic set and the norm of its
    gradient with respect to the set. The gradient is taken with create_graph so that the
    penalty itself can be backpropagated to the set and the autoencoder (a second derivative)."""
    rec = reconstruction_loss(autoencoder, synthetic)
    (grad,) = torch.autograd.grad(rec, synthetic, create_graph=True)
    return rec, grad.norm()


def diversity(synthetic: torch.Tensor) -> torch.Tensor:
    """MSE between each sample and the set's mean sample: the per-value variance of the set.
    It equals half the mean squared pairwise distance per value, so it is maximised as much by
    two far-apart groups of identical samples as by many distinct ones."""
    return F.mse_loss(synthetic, synthetic.mean(dim=0, keepdim=True).expand_as(synthetic))


def nearest_neighbour_repulsion(synthetic: torch.Tensor) -> torch.Tensor:
    """mean_i -log(d_i^2 / D + eps), d_i the distance from sample i to its nearest other sample.
    The log makes the push strongest on near-duplicates and negligible on samples that are
    already apart: it fights collapse where the diversity term is indifferent to it."""
    n, features = synthetic.shape
    # |a|^2 + |b|^2 - 2 a.b: one matrix product, ten times faster than broadcasting the differences.
    norms = synthetic.pow(2).sum(dim=1)
    squared = (norms.unsqueeze(1) + norms.unsqueeze(0) - 2.0 * synthetic @ synthetic.t()).clamp_min(0.0)
    self_pairs = torch.eye(n, dtype=torch.bool, device=synthetic.device)
    nearest = squared.masked_fill(self_pairs, float("inf")).min(dim=1).values
    return -torch.log(nearest / features + _REPULSION_EPS).mean()


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear ramp from 0 at step 0 to 1 at `warmup_steps` (1 throughout when there is no
    warm-up): the reconstruction and diversity terms start weightless so that the encoder and
    head first learn features before the synthetic set is pulled about (seed report, section 4)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, step / warmup_steps)


def mean_pairwise_distance(samples: torch.Tensor) -> float:
    """Homogeneity measure: the mean Euclidean distance over all pairs of distinct flat samples
    (0 when all are identical)."""
    flat = samples.reshape(len(samples), -1).double()
    n = len(flat)
    distances = torch.cdist(flat, flat)
    return float(distances.sum() / (n * (n - 1)))


def dense_classifier(features: int, hidden: int, classes: int) -> nn.Sequential:
    """The encoder + head architecture as a fresh, untrained network, for the models that learn
    from the synthetic samples alone."""
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))
