"""Training on CUDA: mixed precision (bfloat16 where the GPU has it), finite losses, a
checkpoint that loads and predicts on a machine without a GPU, and --device auto choosing CUDA."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.model.classification import open_classifier
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.precision import training_autocast_dtype
from galaxy_studio.model.prediction import predict_logits, resolve_device
from galaxy_studio.model.training import train_classifier

from .conftest import GPU, ON, SIZE, needs_both_devices

pytestmark = GPU


@needs_both_devices
def test_device_auto_picks_cuda() -> None:
    assert resolve_device("auto").type == "cuda"


@needs_both_devices
def test_mixed_precision_uses_bfloat16_where_the_gpu_has_it() -> None:
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert training_autocast_dtype(torch.device("cuda")) == expected


@pytest.mark.parametrize("arch", ["galaxy-cnn", "resnet18"])
def test_two_epochs_with_amp_give_finite_losses_and_a_checkpoint_the_cpu_loads(
    arch: str, galaxies: Path, tmp_path: Path
) -> None:
    config = TrainConfig(
        data=str(galaxies),
        out_dir=str(tmp_path / arch),
        arch=arch,
        size=SIZE,
        epochs=2,
        batch_size=32,
        crop_fraction=1.0,
        device=ON,
        amp=True,
        patience=None,
    )
    result = train_classifier(config)
    history = result.history
    assert len(history) == 2
    assert all(math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"]) for row in history)
    classifier = open_classifier(result.checkpoint)
    assert {parameter.device.type for parameter in classifier.model.parameters()} == {"cpu"}
    prep = classifier.prep
    pixels = np.random.default_rng(0).uniform(0, 255, (4, prep.n_channels, prep.size, prep.size))
    logits = predict_logits(classifier.model, pixels.astype(np.float32), prep, device="cpu")
    assert logits.shape == (4, 3) and np.isfinite(logits).all()


@needs_both_devices
def test_training_batches_are_turned_on_the_gpu_as_on_the_cpu() -> None:
    from galaxy_studio.model.datasets import GalaxyDataset
    from galaxy_studio.model.preprocessing import Preprocessing

    prep = Preprocessing(size=32, crop_fraction=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    pixels = np.random.default_rng(0).integers(0, 256, (16, 3, 48, 48), dtype=np.uint8)
    batches = {}
    for device in ("cpu", "cuda"):
        dataset = GalaxyDataset(pixels, np.arange(16) % 3, prep, rotations="any", seed=4, device=device)
        dataset.set_epoch(2)
        images, labels = torch.utils.data.default_collate(dataset.__getitems__(list(range(16))))
        assert images.device.type == device and images.shape == (16, 3, 32, 32)
        batches[device] = images.cpu()
    torch.testing.assert_close(batches["cuda"], batches["cpu"], rtol=1e-4, atol=1e-4)
