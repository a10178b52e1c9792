"""The embedding job on the demo set: classifier features, the autoencoder, the cache, backbones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.events import Cancelled, CancelToken, MetricLogged, Progressed
from galaxy_studio.explore import encoding
from galaxy_studio.explore.autoencoder import AutoencoderConfig, load_autoencoder, train_autoencoder
from galaxy_studio.explore.embeddings import EmbedConfig, embed
from galaxy_studio.model.architectures import ARCHITECTURES, build_model, feature_extractor
from galaxy_studio.model.errors import ModelError

from ..conftest import DEMO_CLASSES, DEMO_PER_CLASS


def _tiny_autoencoder(demo_set: Path, **changes: object) -> EmbedConfig:
    settings: dict[str, object] = {
        "size": 16,
        "crop_fraction": 1.0,
        "latent": 8,
        "autoencoder_width": 8,
        "autoencoder_epochs": 2,
        "device": "cpu",
        "threads": 2,
    }
    settings.update(changes)
    return EmbedConfig(data=str(demo_set), **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_feature_extractor_stops_before_the_linear_head(name: str) -> None:
    model = build_model(name, n_classes=3, in_channels=3, size=32, width=8).eval()
    head = [module for module in model.modules() if isinstance(module, torch.nn.Linear)][-1]
    seen: list[torch.Tensor] = []
    handle = head.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        model(images)
        features = feature_extractor(model)(images)
    handle.remove()
    assert features.shape == (2, head.in_features)
    assert torch.allclose(features, seen[0])


def test_feature_extractor_of_torchvision_vgg11_keeps_the_4096_wide_layers() -> None:
    from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec

    model = model_from_spec(ArchitectureSpec("vgg11", 2, 3, 32, pretrained="deep")).eval()
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        features = feature_extractor(model)(images)
        assert features.shape == (1, 4096)
        assert torch.allclose(model.classifier[-1](features), model(images), atol=1e-5)


def test_classifier_embeddings_have_the_right_shape_and_are_deterministic(trained_run: object, demo_set: Path) -> None:
    config = EmbedConfig(
        data=str(demo_set),
        source="model",
        model=trained_run.run_dir,
        device="cpu",  # type: ignore[attr-defined]
        use_cache=False,
        batch_size=32,
    )
    events: list[object] = []
    first = embed(config, emit=events.append)
    second = embed(config)
    assert first.vectors.shape == (len(DEMO_CLASSES) * DEMO_PER_CLASS, 16)
    assert np.array_equal(first.vectors, second.vectors)
    assert first.class_names == tuple(sorted(DEMO_CLASSES)) and first.labels.min() == 0
    assert first.source.startswith("model galaxy-cnn")
    assert [event.done for event in events if isinstance(event, Progressed)][-1] == len(first)
    assert np.ptp(first.vectors, axis=0).max() > 0


def test_autoencoder_reduces_reconstruction_loss(demo_set: Path, tmp_path: Path) -> None:
    events: list[object] = []
    result = train_autoencoder(
        AutoencoderConfig(
            data=str(demo_set),
            out=str(tmp_path / "ae.pt"),
            size=16,
            crop_fraction=1.0,
            latent=8,
            width=8,
            epochs=6,
            batch_size=16,
            lr=3e-3,
            device="cpu",
            threads=2,
        ),
        emit=events.append,
    )
    assert len(result.val_losses) == 7 and result.images == len(DEMO_CLASSES) * DEMO_PER_CLASS
    assert result.val_losses[-1] < 0.5 * result.val_losses[0]
    assert result.train_losses[-1] < result.train_losses[0]
    logged = [event.value for event in events if isinstance(event, MetricLogged) and event.name == "val_loss"]
    assert logged == list(result.val_losses)
    model, prep, metadata = load_autoencoder(tmp_path / "ae.pt")
    assert prep.size == 16 and metadata["images"] == result.images
    assert model.encode(torch.zeros(1, 3, 16, 16)).shape == (1, 8)


def test_autoencoder_learns_more_than_the_mean_image(demo_set: Path, tmp_path: Path) -> None:
    """The failure this guards against: reconstructing every galaxy as the average frame,
    which leaves a bottleneck that varies along one direction only."""
    from galaxy_studio.explore.inventory import display_preprocessing, open_inventory
    from galaxy_studio.model.datasets import prepare_pixels
    from galaxy_studio.model.preprocessing import normalise

    config = AutoencoderConfig(
        data=str(demo_set),
        out=str(tmp_path / "ae.pt"),
        size=32,
        crop_fraction=1.0,
        latent=8,
        width=8,
        epochs=30,
        batch_size=16,
        lr=3e-3,
        device="cpu",
        threads=2,
    )
    result = train_autoencoder(config)
    inventory = open_inventory(config.data)
    prep = display_preprocessing(inventory, size=32, crop_fraction=1.0)
    pixels = torch.from_numpy(normalise(prepare_pixels(inventory.items, prep)[0], prep))
    mean_image_error = float(((pixels - pixels.mean(0)) ** 2).mean())
    assert result.val_losses[-1] < 0.95 * mean_image_error
    model, _, _ = load_autoencoder(config.out)
    with torch.no_grad():
        codes = model.encode(pixels).numpy()
    variances = np.linalg.svd(codes - codes.mean(0), compute_uv=False) ** 2
    assert variances[0] / variances.sum() < 0.9


def test_an_autoencoder_of_the_old_format_is_refused_by_name(tmp_path: Path) -> None:
    from galaxy_studio.model.checkpoint import save_payload
    from galaxy_studio.model.errors import CheckpointError

    path = tmp_path / "old.pt"
    save_payload(path, {"format": "galaxy-studio-autoencoder", "format_version": 1, "metadata": {}, "state_dict": {}})
    with pytest.raises(CheckpointError, match=r"old\.pt.*older Galaxy Studio.*train a new one"):
        load_autoencoder(path)


def test_cancelled_autoencoder_writes_nothing(demo_set: Path, tmp_path: Path) -> None:
    cancel = CancelToken()

    def stop_after_first_epoch(event: object) -> None:
        if isinstance(event, MetricLogged) and event.name == "train_loss":
            cancel.set()

    with pytest.raises(Cancelled):
        train_autoencoder(
            AutoencoderConfig(
                data=str(demo_set),
                out=str(tmp_path / "ae.pt"),
                size=16,
                crop_fraction=1.0,
                latent=4,
                width=4,
                epochs=5,
                device="cpu",
            ),
            emit=stop_after_first_epoch,
            cancel=cancel,
        )
    assert not list(tmp_path.iterdir())


def test_cache_hit_skips_computing(demo_set: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _tiny_autoencoder(demo_set)
    first = embed(config)
    assert first.vectors.shape == (len(first), 8)

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cache hit must not encode images again")

    monkeypatch.setattr(encoding, "encode_items", must_not_run)
    again = embed(config)
    assert np.array_equal(again.vectors, first.vectors) and again.items == first.items


def test_cache_is_invalidated_when_the_model_file_changes(
    trained_run: object, demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(Path(trained_run.checkpoint).read_bytes())  # type: ignore[attr-defined]
    config = EmbedConfig(data=str(demo_set), source="model", model=str(checkpoint), device="cpu")
    calls: list[int] = []
    real = encoding.encode_items

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(encoding, "encode_items", counted)
    embed(config)
    embed(config)
    assert len(calls) == 1
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    embed(config)
    assert len(calls) == 2


def test_a_flat_folder_gives_unlabelled_embeddings(demo_set: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for image in sorted(demo_set.rglob("*.jpg"))[:12]:
        (flat / f"{image.parent.name[:4]}-{image.name}").write_bytes(image.read_bytes())
    config = _tiny_autoencoder(flat)
    unlabelled = embed(config)
    assert not unlabelled.has_labels and unlabelled.labels.tolist() == [-1] * 12


def test_backbone_without_weights_says_what_to_do(
    demo_set: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    config = EmbedConfig(data=str(demo_set), source="backbone", backbone="mobilenet_v3_small", device="cpu")
    with pytest.raises(ModelError, match="no local weights for mobilenet_v3_small: pass a weights file"):
        embed(config)


def test_backbone_from_a_local_weights_file(demo_set: Path, tmp_path: Path) -> None:
    import torchvision

    weights = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), weights)
    config = EmbedConfig(
        data=str(demo_set),
        source="backbone",
        backbone="mobilenet_v3_small",
        weights_path=str(weights),
        size=32,
        crop_fraction=1.0,
        device="cpu",
        use_cache=False,
    )
    embeddings = embed(config)
    assert embeddings.vectors.shape == (len(embeddings), 1024)
    assert embeddings.source.startswith(f"backbone mobilenet_v3_small ({weights})")
    wrong = tmp_path / "wrong.pth"
    torch.save({"weight": torch.zeros(2)}, wrong)
    with pytest.raises(ModelError, match=r"wrong\.pth: the weights do not fit torchvision's mobilenet_v3_small"):
        embed(
            EmbedConfig(
                data=str(demo_set),
                source="backbone",
                backbone="mobilenet_v3_small",
                weights_path=str(wrong),
                device="cpu",
            )
        )


def test_config_errors_are_clear() -> None:
    with pytest.raises(ModelError, match="source 'model' needs a classifier checkpoint"):
        EmbedConfig(data="x", source="model")
    with pytest.raises(ModelError, match="multiple of 8"):
        EmbedConfig(data="x", size=60)


def test_project_images_all_embedded_with_current_human_labels(
    demo_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from galaxy_studio.labels.schemes import ClassScheme
    from galaxy_studio.labels.store import Project

    images = sorted(demo_set.rglob("*.jpg"))[::10]
    path = tmp_path / "explore.gsproj"
    with Project.create(path, ClassScheme("two", ("round", "spiral"))) as project:
        project.add_paths(images)
        ids = [record.id for record in project.images()]
        project.label(ids[0], "spiral", labeller="ann")
        project.label(ids[1], "round", labeller="model-run", source="model")
    first = embed(_tiny_autoencoder(path))
    assert len(first) == len(images) and first.class_names == ("round", "spiral")
    assert first.labels.tolist() == [1] + [-1] * (len(images) - 1)

    monkeypatch.setattr(encoding, "encode_items", lambda *args, **kwargs: pytest.fail("labels must not recompute"))
    with Project.open(path) as project:
        project.label(ids[2], "round", labeller="ann")
    again = embed(_tiny_autoencoder(path))
    assert again.labels.tolist()[:3] == [1, -1, 0] and np.array_equal(again.vectors, first.vectors)


def test_an_unreadable_image_is_left_out_with_a_warning(demo_set: Path, tmp_path: Path) -> None:
    from galaxy_studio.events import Warned

    flat = tmp_path / "flat"
    flat.mkdir()
    for image in sorted(demo_set.rglob("*.jpg"))[:6]:
        (flat / f"{image.parent.name[:4]}-{image.name}").write_bytes(image.read_bytes())
    (flat / "zz-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    events: list[object] = []
    embeddings = embed(_tiny_autoencoder(flat, autoencoder_epochs=1), emit=events.append)
    assert len(embeddings) == 6 and all("broken" not in item.path for item in embeddings.items)
    assert any(isinstance(event, Warned) and "zz-broken.jpg" in event.text for event in events)


def test_orientation_average_is_invariant_to_rotations_and_flips() -> None:
    from galaxy_studio.explore.encoders import OrientationAverage

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 14 * 14, 5))
    images = torch.randn(2, 3, 16, 16)
    average = OrientationAverage(network)
    with torch.no_grad():
        reference = average(images)
        for changed in (
            torch.rot90(images, 1, dims=(-2, -1)),
            images.flip(-1),
            torch.rot90(images.flip(-2), 3, dims=(-2, -1)),
        ):
            assert torch.allclose(average(changed), reference, atol=1e-5)
        assert not torch.allclose(network(torch.rot90(images, 1, dims=(-2, -1))), network(images), atol=1e-3)


def test_autoencoder_reports_every_step_so_the_time_left_is_known_within_the_first_epoch(
    demo_set: Path, tmp_path: Path
) -> None:
    """Seen: an epoch took minutes on a busy 2-core machine and the panel said nothing new (no
    time left) until the first one ended; the demo's autoencoder took 11.5 min."""
    events: list[object] = []
    train_autoencoder(
        AutoencoderConfig(
            data=str(demo_set),
            out=str(tmp_path / "ae.pt"),
            size=16,
            crop_fraction=1.0,
            latent=4,
            width=4,
            epochs=2,
            batch_size=16,
            device="cpu",
        ),
        emit=events.append,
    )
    training = [e for e in events if isinstance(e, Progressed) and e.what.startswith("training the autoencoder")]
    steps = -(-round(len(DEMO_CLASSES) * DEMO_PER_CLASS * 0.9) // 16)  # 90% train split, batches of 16
    assert {e.total for e in training} == {2 * steps}
    assert sorted({e.done for e in training}) == list(range(1, 2 * steps + 1))
    assert training[0].done == 1 and training[0].what == "training the autoencoder, epoch 1/2"
    assert training[-1].done == 2 * steps and training[-1].what.endswith("epoch 2/2")
