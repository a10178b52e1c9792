"""The registry's networks: shapes, normalisation layers, and ImageNet weights when offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from galaxy_studio.model.architectures import (
    ARCHITECTURES,
    ArchitectureSpec,
    build_model,
    has_batch_norm,
    model_from_spec,
)
from galaxy_studio.model.config import ARCHITECTURE_NAMES
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.pretrained import start_from_file


def test_the_registry_matches_the_names_the_cli_offers() -> None:
    assert tuple(ARCHITECTURES) == ARCHITECTURE_NAMES


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("name", ARCHITECTURE_NAMES)
def test_every_architecture_gives_one_score_per_class(name: str, size: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, n_classes=5, in_channels=3, size=size, width=8).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()


def test_band_count_sets_the_input_channels() -> None:
    model = build_model("galaxy-cnn", n_classes=3, in_channels=5, size=32).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 5, 32, 32)).shape == (1, 3)
        with pytest.raises(RuntimeError):
            model(torch.randn(1, 3, 32, 32))


def test_convnet_d3_has_no_batch_norm_and_the_others_differ_as_designed() -> None:
    assert not has_batch_norm(build_model("convnet-d3", n_classes=2, in_channels=3, size=32))
    norms = [
        m
        for m in build_model("convnet-d3", n_classes=2, in_channels=3, size=32).modules()
        if isinstance(m, torch.nn.GroupNorm)
    ]
    assert len(norms) == 3 and all(norm.num_groups == norm.num_channels == 128 and norm.affine for norm in norms)
    assert has_batch_norm(build_model("galaxy-cnn", n_classes=2, in_channels=3, size=32))
    assert has_batch_norm(build_model("resnet18", n_classes=2, in_channels=3, size=32))


def test_galaxy_cnn_averages_first_and_keeps_32_channels() -> None:
    model = build_model("galaxy-cnn", n_classes=2, in_channels=3, size=64)
    assert isinstance(model[0], torch.nn.AvgPool2d)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {conv.out_channels for conv in convs} == {32}


def test_vgg11_from_scratch_has_eight_convolutions_of_the_chosen_width() -> None:
    model = build_model("vgg11", n_classes=2, in_channels=3, size=64)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 8 and {conv.out_channels for conv in convs} == {32}


def test_a_weights_file_that_is_not_vgg11_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3)}, wrong)
    spec = ArchitectureSpec("vgg11", 2, 3, 64)
    with pytest.raises(ModelError, match="wrong.pth: holds 1 tensor of an unrecognised network; vgg11 expects"):
        start_from_file(spec, wrong)
    with pytest.raises(ModelError, match="not found"):
        start_from_file(spec, tmp_path / "missing.pth")


def test_fine_tuned_layouts_rebuild_in_any_channel_count_and_only_where_there_is_a_file_layout() -> None:
    with pytest.raises(ModelError, match="galaxy-cnn cannot start from a weights file"):
        model_from_spec(ArchitectureSpec("galaxy-cnn", 2, 3, 64, pretrained="torchvision"))
    vgg = model_from_spec(ArchitectureSpec("vgg11", 2, 1, 64, pretrained="shallow"))
    assert vgg.features[0].in_channels == 1 and vgg.classifier[6].out_features == 2
    with pytest.raises(ModelError, match="unknown architecture"):
        model_from_spec(ArchitectureSpec("alexnet", 2, 3, 64))
    with pytest.raises(ModelError, match="pretrained must be one of torchvision"):
        model_from_spec(ArchitectureSpec("resnet18", 2, 3, 64, pretrained="/some/file.pth"))


def test_a_spec_survives_a_round_trip_through_plain_data() -> None:
    spec = ArchitectureSpec("resnet18", 4, 3, 128, width=None)
    assert ArchitectureSpec.from_dict(spec.to_dict()) == spec
