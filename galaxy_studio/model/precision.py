"""How much arithmetic precision a GPU job may trade for speed.

On CUDA, PyTorch's defaults differ by operation (convolutions may use TF32, matrix products
not), so "fp32" on a GPU is not what the CPU computes unless both are switched off. A job
names one of these precisions and runs inside `cuda_precision`, which sets both switches for
its duration and restores them: the CPU path is unaffected by all of them.

- "fp32": true float32 everywhere; matches the CPU to rounding.
- "tf32": float32 storage, TensorFloat-32 (10-bit mantissa) products in convolutions and
  matrix products: Ampere and newer GPUs run these several times faster.
- "bf16": autocast to bfloat16 for the forward and backward arithmetic (TF32 elsewhere);
  parameters, gradients and losses stay float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16")


def check_precision(name: str) -> None:
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")


@contextmanager
def cuda_precision(name: str, device: torch.device) -> Iterator[None]:
    """Run the block at precision `name` on `device` (CUDA only; elsewhere nothing changes)."""
    check_precision(name)
    if device.type != "cuda":
        yield
        return
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    fast = name != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = fast
    torch.backends.cudnn.allow_tf32 = fast
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if name == "bf16" else nullcontext()
    try:
        with autocast:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def training_autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision training's half type on `device`: bfloat16 where the GPU has it (no
    loss scaling needed: it keeps float32's exponent range), float16 on older CUDA GPUs (with a
    gradient scaler), None on the CPU and other devices (float32 throughout)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
