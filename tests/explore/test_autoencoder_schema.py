"""A damaged or doctored autoencoder file (`embed --autoencoder FILE`) is refused on load with
one line naming the file and the field, before a network is built from its recorded sizes and
before any output is written. It used to build a 225-million-row layer for a recorded 30,000 px
input, accept a normalisation mean of the wrong length (it broadcast), read the text "4" as a
latent size, and fail with a traceback on a preprocessing size that differs from the network's."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from galaxy_studio.cli import main
from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.explore.autoencoder import AutoencoderConfig, load_autoencoder, train_autoencoder
from galaxy_studio.model.checkpoint import save_payload
from galaxy_studio.model.errors import CheckpointError

Damage = Callable[[dict[str, Any]], None]


def _metadata(change: Callable[[dict[str, Any]], None]) -> Damage:
    return lambda payload: change(payload["metadata"])


DAMAGES: dict[str, tuple[Damage, str]] = {
    "no architecture": (_metadata(lambda m: m.pop("architecture")), "field architecture: missing"),
    "no preprocessing": (_metadata(lambda m: m.pop("preprocessing")), "field preprocessing: missing"),
    "30,000 px input": (
        _metadata(lambda m: m["architecture"].update(size=30000)),
        "field architecture.size: 30000 is out of range (it should be between 16 and 512)",
    ),
    "size not a multiple of 8": (
        _metadata(lambda m: (m["architecture"].update(size=20), m["preprocessing"].update(size=20))),
        "field architecture.size: 20 px is not a multiple of 8",
    ),
    "huge width": (
        _metadata(lambda m: m["architecture"].update(width=100_000)),
        "field state_dict.encoder.0.weight: shape (4, 3, 4, 4), but the recorded architecture needs (100000, 3, 4, 4)",
    ),
    "latent as text": (
        _metadata(lambda m: m["architecture"].update(latent="4")),
        "field architecture.latent: should be a whole number, found '4'",
    ),
    "mean for one channel of three": (
        _metadata(lambda m: m["preprocessing"].update(mean=[0.1])),
        "field preprocessing.mean: 1 value for a 3-channel input",
    ),
    "grey network, colour preprocessing": (
        _metadata(lambda m: m["architecture"].update(in_channels=1)),
        "field preprocessing.channels: 3 channels for a network reading 1",
    ),
    "preprocessing size differs": (
        _metadata(lambda m: m["preprocessing"].update(size=24)),
        "field preprocessing.size: 24 px, but the network was built for 16 px",
    ),
    "unknown stretch": (
        _metadata(lambda m: m["preprocessing"]["display"].update(stretch="sinh-of-doom")),
        "field preprocessing.display: unknown stretch 'sinh-of-doom'; choose from linear",
    ),
    "no weights": (lambda payload: payload.pop("state_dict"), "field state_dict: missing (the network's weights)"),
    "a weight of the wrong shape": (
        lambda payload: payload["state_dict"].update({"decoder.0.bias": torch.zeros(3)}),
        "field state_dict.decoder.0.bias: shape (3,), but the recorded architecture needs (64,)",
    ),
    "a weight too many": (
        lambda payload: payload["state_dict"].update({"extra.weight": torch.zeros(1)}),
        "field state_dict: does not match the recorded architecture (unexpected extra.weight)",
    ),
}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ae-data")
    write_demo_set(root, per_class=1, size=32, seed=2)
    return root


@pytest.fixture(scope="module")
def intact(images: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("ae") / "ae.pt"
    config = AutoencoderConfig(
        data=str(images), out=str(out), size=16, crop_fraction=1, latent=4, width=4, epochs=1, device="cpu"
    )
    train_autoencoder(config)
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_doctored_autoencoder_is_refused_naming_the_field(
    damage: str,
    intact: dict[str, Any],
    images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    change, expected = DAMAGES[damage]
    payload = copy.deepcopy(intact)
    change(payload)
    path = tmp_path / "ae.pt"
    save_payload(path, payload)
    with pytest.raises(CheckpointError) as refused:
        load_autoencoder(path)
    assert str(refused.value).startswith(f"{path}: {expected}")
    assert "; train the autoencoder again (embed without a FILE trains one)" in str(refused.value)

    out = tmp_path / "emb.npz"
    assert main(["embed", str(images), "--autoencoder", str(path), "--out", str(out), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"error: {path}: {expected}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_the_intact_file_still_loads_and_embeds(intact: dict[str, Any], images: Path, tmp_path: Path) -> None:
    path = tmp_path / "ae.pt"
    save_payload(path, intact)
    model, prep, _ = load_autoencoder(path)
    assert prep.size == 16 and model.encode(torch.zeros(1, 3, 16, 16)).shape == (1, 4)
    out = tmp_path / "emb.npz"
    assert main(["embed", str(images), "--autoencoder", str(path), "--out", str(out), "--device", "cpu"]) == 0
    assert out.is_file()
