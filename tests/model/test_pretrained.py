"""Starting from a torchvision weights file: what is loaded, adapted and renewed, the
backbone's lower learning rate, the record of the file, and clear refusals of wrong files.
The files are state dicts of untrained torchvision networks saved by the tests themselves:
nothing is downloaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

from galaxy_studio.events import Cancelled, CancelToken, EpochEnded, Noted
from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec
from galaxy_studio.model.checkpoint import load_classifier
from galaxy_studio.model.config import TrainConfig, legacy_fields_translated, same_recipe
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.pretrained import (
    check_weights_file,
    describe_network,
    parameter_groups,
    read_state_dict,
    start_from_file,
)
from galaxy_studio.model.training import train_classifier

from .conftest import tiny_config

BACKBONE = "layer2.0.conv1.weight"


class TrainingScript:
    """Stands for any Python object a training script might pickle along with its weights."""


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def _small_convnext(width: int) -> ConvNeXt:
    """torchvision's ConvNeXt-Tiny layout (3, 3, 9, 3 blocks) at `width` channels first."""
    stages = [CNBlockConfig(width, 2 * width, 3), CNBlockConfig(2 * width, 4 * width, 3)]
    stages += [CNBlockConfig(4 * width, 8 * width, 9), CNBlockConfig(8 * width, None, 3)]
    return ConvNeXt(stages)


def _train_small(data: Path, out: Path, weights: Path, **changes: object) -> TrainConfig:
    settings: dict[str, object] = {"epochs": 1, "ema": None, **changes}
    return tiny_config(data, out, arch="resnet18", size=16, width=None, pretrained=str(weights), **settings)


def test_a_resnet18_file_loads_its_backbone_adapts_the_stem_and_renews_the_head(resnet18_file: Path) -> None:
    state = torch.load(resnet18_file, weights_only=True)
    model, start = start_from_file(ArchitectureSpec("resnet18", 4, 1, 64), resnet18_file)
    weights = model.state_dict()
    assert torch.equal(weights[BACKBONE], state[BACKBONE])
    assert torch.equal(weights["layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"])
    assert torch.equal(weights["conv1.weight"], state["conv1.weight"].sum(dim=1, keepdim=True)), "one band: RGB summed"
    assert model.conv1.stride == (1, 1) and model.conv1.kernel_size == (7, 7), "the file's kernel, a small stride"
    assert weights["fc.weight"].shape == (4, 512)
    assert start.fresh == ("conv1", "fc") and start.loaded == 120 and start.network == "a ResNet-18"
    assert start.sha256 == hashlib.sha256(resnet18_file.read_bytes()).hexdigest()
    text = "\n".join(start.lines())
    assert "120 tensors of a ResNet-18 loaded" in text and "stride 1 instead of ImageNet's 2" in text
    assert "fc: 4 classes (the file's 1000-class head left out)" in text
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 1, 64, 64)).shape == (2, 4)


def test_three_bands_keep_the_files_stem_and_train_it_as_backbone(resnet18_file: Path) -> None:
    model, start = start_from_file(ArchitectureSpec("resnet18", 2, 3, 128), resnet18_file)
    assert torch.equal(model.conv1.weight, torch.load(resnet18_file, weights_only=True)["conv1.weight"])
    assert start.fresh == ("fc",) and start.adapted == (), "128 px keeps ImageNet's stride 2"


def test_a_small_convnext_file_loads_into_convnext_tiny_at_its_width(tmp_path: Path) -> None:
    path = tmp_path / "convnext.pth"
    torch.save({"model": _small_convnext(8).state_dict()}, path)
    model, start = start_from_file(ArchitectureSpec("convnext-tiny", 3, 3, 32, width=8), path)
    state = torch.load(path, weights_only=True)["model"]
    assert torch.equal(model.state_dict()["features.5.8.block.0.weight"], state["features.5.8.block.0.weight"])
    assert model.classifier[2].out_features == 3 and start.fresh == ("classifier.2",)
    assert model.features[0][0].stride == (1, 1)
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(ModelError, match=r"convnext.pth: features.0.0.weight has shape \(8, 3, 4, 4\) in the file"):
        start_from_file(ArchitectureSpec("convnext-tiny", 3, 3, 32), path)


def test_a_resnet50_file_for_resnet18_names_both_networks(tmp_path: Path) -> None:
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    with pytest.raises(ModelError) as caught:
        check_weights_file("resnet18", path, size=64)
    message = str(caught.value)
    expected = f"{path}: holds 320 tensors of a ResNet-50; resnet18 expects the 122 tensors of a ResNet-18 ("
    assert message.startswith(expected)
    assert "resnet18-f37072fd.pth" in message, "the hint says where the right file is"


def test_a_resnet18_file_for_convnext_tiny_is_refused(resnet18_file: Path) -> None:
    with pytest.raises(ModelError, match="holds 122 tensors of a ResNet-18; convnext-tiny expects the 182 tensors"):
        check_weights_file("convnext-tiny", resnet18_file, size=64)


def test_damaged_foreign_and_unsafe_files_are_refused_by_name(resnet18_file: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(resnet18_file.read_bytes()[:100_000])
    with pytest.raises(ModelError, match=r"truncated.pth: not a PyTorch weights file, or a damaged or truncated"):
        read_state_dict(truncated)
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n" * 50)
    with pytest.raises(ModelError, match=r"notes.pth: not a PyTorch weights file"):
        read_state_dict(text)
    pickled = tmp_path / "whole-model.pth"
    torch.save({"model": TrainingScript()}, pickled)  # an object, not tensors: weights_only must refuse it
    with pytest.raises(ModelError, match=r"whole-model.pth: refused: the file asks to build Python objects"):
        read_state_dict(pickled)
    numbers = tmp_path / "numbers.pth"
    torch.save({"epoch": 3, "lr": 0.1}, numbers)
    with pytest.raises(ModelError, match=r"numbers.pth: holds no state dict of named tensors"):
        read_state_dict(numbers)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(ModelError, match=r"list.pth: holds no state dict of named tensors \(found list\)"):
        read_state_dict(listed)
    with pytest.raises(ModelError, match="weights file not found"):
        read_state_dict(tmp_path / "missing.pth")


def test_common_wrappers_and_dataparallel_names_are_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.pth"
    weight = torch.ones(2, 2)
    torch.save({"state_dict": {"module.fc.weight": weight}, "epoch": 4}, path)
    assert list(read_state_dict(path)) == ["fc.weight"]


def test_networks_are_recognised_from_their_names_and_shapes() -> None:
    with torch.device("meta"):
        assert describe_network(torchvision.models.resnet34().state_dict()) == "a ResNet-34"
        assert describe_network(torchvision.models.convnext_tiny().state_dict()) == "a ConvNeXt-Tiny"
        assert describe_network(torchvision.models.vgg11().state_dict()) == "a VGG-11"
    assert describe_network({"conv.weight": torch.zeros(1)}) == "an unrecognised network"


def test_nothing_is_downloaded_for_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    with pytest.raises(ModelError) as caught:
        start_from_file(ArchitectureSpec("vgg11", 2, 3, 64), tmp_path / "vgg11.pth")
    assert "vgg11.pth: weights file not found" in str(caught.value)
    assert "vgg11-8a719046.pth" in str(caught.value) and "downloads nothing" in str(caught.value)


def test_the_backbone_learns_at_a_fraction_of_the_rate_or_not_at_all(resnet18_file: Path) -> None:
    model, start = start_from_file(ArchitectureSpec("resnet18", 2, 1, 32), resnet18_file)
    groups = parameter_groups(model, start.fresh, 1e-3, 0.1)
    assert [group["lr"] for group in groups] == [1e-3, pytest.approx(1e-4)]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in (model.conv1.weight, *model.fc.parameters())}
    frozen = parameter_groups(model, start.fresh, 1e-3, 0.0)
    assert len(frozen) == 1 and not model.get_parameter(BACKBONE).requires_grad


def test_a_run_records_its_file_and_its_checkpoint_rebuilds_without_it(
    demo_set: Path, resnet18_file: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "copy.pth"
    weights.write_bytes(resnet18_file.read_bytes())
    events: list[object] = []
    result = train_classifier(_train_small(demo_set, tmp_path / "run", weights), emit=events.append)
    notes = [event.text for event in events if isinstance(event, Noted)]
    assert any("copy.pth" in note and "120 tensors of a ResNet-18 loaded" in note for note in notes)
    assert any(note.startswith("newly initialised fc: 3 classes") for note in notes)
    record = result.metrics["pretrained"]
    assert record["file"] == "copy.pth" and record["backbone_lr_scale"] == 0.1
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    weights.unlink()
    model, metadata = load_classifier(result.checkpoint)
    assert metadata["architecture"]["pretrained"] == "torchvision"
    assert metadata["metrics"]["pretrained"]["sha256"] == record["sha256"]
    assert model.conv1.kernel_size == (7, 7)


def test_a_frozen_backbone_keeps_the_files_weights(demo_set: Path, resnet18_file: Path, tmp_path: Path) -> None:
    result = train_classifier(_train_small(demo_set, tmp_path / "run", resnet18_file, backbone_lr_scale=0.0))
    model, _ = load_classifier(result.checkpoint)
    state = torch.load(resnet18_file, weights_only=True)
    for name in (BACKBONE, "conv1.weight"):  # RGB data: the stem is the file's, so backbone too
        assert torch.equal(model.state_dict()[name], state[name])


def test_an_interrupted_run_keeps_both_rates_and_resumes_without_the_file(
    demo_set: Path, resnet18_file: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "moved-later.pth"
    weights.write_bytes(resnet18_file.read_bytes())
    config = _train_small(demo_set, tmp_path / "run", weights, epochs=2, backbone_lr_scale=0.25)
    token = CancelToken()

    def cancel_after_epoch_one(event: object) -> None:
        if isinstance(event, EpochEnded):
            token.set()

    with pytest.raises(Cancelled):
        train_classifier(config, emit=cancel_after_epoch_one, cancel=token)
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    initial = [group["initial_lr"] for group in saved["optimizer"]["param_groups"]]
    assert initial == [config.lr, pytest.approx(config.lr * 0.25)]
    weights.unlink()
    result = train_classifier(config)
    assert result.resumed_from == 1 and result.epochs_run == 2
    assert result.metrics["pretrained"]["file"] == "moved-later.pth"


def test_a_wrong_file_stops_the_run_before_its_folder_is_made(demo_set: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "vgg-by-mistake.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), wrong)
    events: list[object] = []
    with pytest.raises(ModelError, match="vgg-by-mistake.pth: holds 218 tensors of a ResNet-34; resnet18 expects"):
        train_classifier(_train_small(demo_set, tmp_path / "run", wrong), emit=events.append)
    assert not (tmp_path / "run").exists() and events == [], "nothing decoded, nothing written"


def test_only_networks_with_a_torchvision_layout_take_a_file(resnet18_file: Path) -> None:
    with pytest.raises(ModelError, match="galaxy-cnn cannot start from a weights file"):
        TrainConfig(data="d", out_dir="o", arch="galaxy-cnn", pretrained=str(resnet18_file))
    with pytest.raises(ModelError, match="convnet-d3 cannot start from a weights file"):
        model_from_spec(ArchitectureSpec("convnet-d3", 2, 3, 32, pretrained="torchvision"))


def test_records_of_runs_from_before_the_file_setting_still_read() -> None:
    config = TrainConfig(data="d", out_dir="o")
    earlier = {**config.recipe(), "weights_path": None}
    assert same_recipe(earlier, config), "a run from scratch resumes across the change"
    fine_tuned = {**config.to_dict(), "arch": "vgg11", "pretrained": "deep", "weights_path": "/w/vgg11.pth"}
    assert not same_recipe(legacy_fields_translated(fine_tuned), TrainConfig(data="d", out_dir="o", arch="vgg11"))
    assert TrainConfig.from_dict({**config.to_dict(), "weights_path": None}) == config
    assert "backbone_lr_scale" not in config.to_dict(), "nothing new is recorded for a run from scratch"
    assert model_from_spec(ArchitectureSpec("vgg11", 2, 3, 32, pretrained="deep")).classifier[6].out_features == 2
