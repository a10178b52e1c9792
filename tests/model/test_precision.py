"""GPU precision settings: the CPU is never affected, and the switches are restored."""

from __future__ import annotations

import pytest
import torch

from galaxy_studio.model.precision import PRECISIONS, check_precision, cuda_precision, training_autocast_dtype


def test_the_cpu_computes_float32_at_every_precision() -> None:
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    w = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
    reference = x @ w
    for name in PRECISIONS:
        with cuda_precision(name, torch.device("cpu")):
            result = x @ w
            assert not torch.is_autocast_enabled("cpu")
        assert result.dtype == torch.float32 and torch.equal(result, reference)
    assert training_autocast_dtype(torch.device("cpu")) is None


def test_the_cuda_switches_are_restored_and_unknown_names_refused() -> None:
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with cuda_precision("fp32", torch.device("cuda")):
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    with cuda_precision("tf32", torch.device("cuda")):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16"):
        check_precision("fp16")
