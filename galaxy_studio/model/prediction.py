"""Network outputs for prepared images: the one code path for validation, testing and later
classification, so that a checkpoint classifies exactly as it was evaluated."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from galaxy_studio.distributed import current_ranks
from galaxy_studio.events import NEVER, CancelToken
from galaxy_studio.model.architectures import feature_extractor, linear_head
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.precision import cuda_precision
from galaxy_studio.model.preprocessing import Preprocessing, normalise

DEFAULT_BATCH = 256


def resolve_device(name: str) -> torch.device:
    """ "auto" is the fastest device present: CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return _rank_gpu()
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device cuda was asked for but torch sees no CUDA GPU", "use {device} auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ModelError("device mps was asked for but this machine has no Apple GPU", "use {device} auto or cpu")
    if name not in ("cuda", "mps", "cpu"):
        raise ModelError(f"unknown device {name!r}; choose auto, cuda, mps or cpu")
    return _rank_gpu() if name == "cuda" else torch.device(name)


def _rank_gpu() -> torch.device:
    """The GPU of this process: under torchrun each rank on a machine takes its own
    (LOCAL_RANK; joining the group refused more ranks than GPUs); a single process takes the
    current one."""
    ranks = current_ranks()
    if not ranks.several:
        return torch.device("cuda")
    return torch.device("cuda", ranks.local_rank)


def describe_device(device: torch.device) -> str:
    """The device in words, as a time estimate should name it: "CPU, 2 threads" (torch's
    compute threads), the GPU's own name, or "Apple GPU (MPS)"."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU, {threads} thread{'s' * (threads != 1)}"


def _normalised_batches(
    pixels: np.ndarray, prep: Preprocessing, device: torch.device, batch_size: int, cancel: CancelToken
) -> Iterator[torch.Tensor]:
    """The inputs normalised and on `device` a batch at a time, cancellable between batches."""
    for start in range(0, len(pixels), batch_size):
        cancel.raise_if_set()
        yield torch.from_numpy(normalise(pixels[start : start + batch_size], prep)).to(device)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    pixels: np.ndarray,
    prep: Preprocessing,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = DEFAULT_BATCH,
    cancel: CancelToken = NEVER,
) -> np.ndarray:
    """(N, classes) float32 logits of `extract_channels` output (N, C, size, size), normalised
    a batch at a time, in true float32 on a GPU too (validation and test scores then do not
    depend on the machine). The model is put in eval mode (batch norm uses its running statistics)."""
    device = torch.device(device)
    model.eval()
    outputs = []
    for batch in _normalised_batches(pixels, prep, device, batch_size, cancel):
        with cuda_precision("fp32", device):
            logits = model(batch)
        outputs.append(logits.float().cpu().numpy())
    if not outputs:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(outputs)


@torch.no_grad()
def predict_features_and_logits(
    model: nn.Module,
    pixels: np.ndarray,
    prep: Preprocessing,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = DEFAULT_BATCH,
    cancel: CancelToken = NEVER,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, features) penultimate-layer features and (N, classes) logits of `extract_channels`
    output, from one pass through the body (the head is applied to the features), so the
    out-of-distribution score sees exactly the features the prediction was made from."""
    device = torch.device(device)
    model.eval()
    body, head = feature_extractor(model), linear_head(model)
    features, logits = [], []
    for batch in _normalised_batches(pixels, prep, device, batch_size, cancel):
        with cuda_precision("fp32", device):
            batch_features = body(batch).float()
            batch_logits = head(batch_features).float()
        features.append(batch_features.cpu().numpy())
        logits.append(batch_logits.cpu().numpy())
    if not features:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    return np.concatenate(features), np.concatenate(logits)
