"""Expert trajectories: layout on disk, memory-mapped reading, size told up front, resumable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.atomic_files import partial_path
from galaxy_studio.data.synthetic import write_demo_set
from galaxy_studio.distill.expert_records import expert_entry, missing_experts, record_file, share
from galaxy_studio.distill.experts import BUFFER_FILE, buffer_bytes, expert_file, open_buffer, train_experts
from galaxy_studio.distill.params import flat_parameters
from galaxy_studio.distributed import Ranks
from galaxy_studio.events import BufferPlanned, Cancelled, CancelToken, MetricLogged
from galaxy_studio.model.architectures import model_from_spec
from galaxy_studio.model.errors import ModelError

from ..conftest import DEMO_CLASSES
from .conftest import tiny_buffer_config


def test_buffer_holds_one_memory_mappable_trajectory_per_expert(tiny_buffer: Path) -> None:
    buffer = open_buffer(tiny_buffer)
    metadata = json.loads((tiny_buffer / BUFFER_FILE).read_text())
    parameters = sum(p.numel() for p in model_from_spec(buffer.spec).parameters())
    assert len(buffer) == 2 and buffer.last_epoch == 3 and buffer.parameters == parameters
    assert sorted(buffer.classes) == ["Edge-on without Bulge", "Round Smooth", "Unbarred Loose Spiral"]
    assert metadata["architecture"]["name"] == "convnet-d3" and metadata["architecture"]["width"] == 8
    assert metadata["preprocessing"]["mean"] is not None and len(metadata["fingerprint"]) == 16
    assert metadata["split"]["counts"]["train"] + metadata["split"]["counts"]["test"] == 36
    assert metadata["config"]["lr"] == 0.01 and metadata["config"]["momentum"] == 0.0
    for position in range(2):
        trajectory = buffer.trajectory(position)
        assert isinstance(trajectory, np.memmap)
        assert trajectory.shape == (4, parameters) and trajectory.dtype == np.float32
        steps = np.linalg.norm(np.diff(np.asarray(trajectory), axis=0), axis=1)
        assert np.all(steps > 0), "every epoch moves the parameters"
        assert 0.0 <= metadata["experts"][position]["test_accuracy"] <= 1.0
    assert not np.array_equal(buffer.snapshot(0, 0), buffer.snapshot(1, 0)), "experts start from different inits"


def test_size_on_disk_is_announced_before_training_and_matches(tiny_set: Path, tmp_path: Path) -> None:
    events: list[object] = []
    config = tiny_buffer_config(tiny_set, tmp_path / "half", experts=1, epochs=2, storage="float16")
    result = train_experts(config, emit=events.append)
    planned = [event for event in events if isinstance(event, BufferPlanned)]
    assert len(planned) == 1 and events.index(planned[0]) < min(
        i for i, event in enumerate(events) if isinstance(event, MetricLogged)
    )
    assert planned[0].bytes == buffer_bytes(1, 2, planned[0].parameters, "float16") == 3 * planned[0].parameters * 2
    trajectory = open_buffer(tmp_path / "half").trajectory(0)
    assert trajectory.dtype == np.float16
    header = (tmp_path / "half" / expert_file(0)).stat().st_size - trajectory.nbytes
    assert 0 < header <= 128 and result.bytes_on_disk == planned[0].bytes + header


def test_the_first_snapshot_is_the_seeded_initialisation(tiny_set: Path, tmp_path: Path, tiny_buffer: Path) -> None:
    buffer = open_buffer(tiny_buffer)
    again = train_experts(tiny_buffer_config(tiny_set, tmp_path / "again", experts=1))
    assert again.trained_now == 1
    np.testing.assert_array_equal(open_buffer(tmp_path / "again").trajectory(0), buffer.trajectory(0))
    net = model_from_spec(buffer.spec)
    assert flat_parameters(net).numel() == buffer.parameters


def test_a_killed_buffer_keeps_finished_experts_and_trains_the_rest_identically(
    tiny_set: Path, tmp_path: Path, tiny_buffer: Path
) -> None:
    out = tmp_path / "killed"
    cancel = CancelToken()

    def kill_after_first(event: object) -> None:
        if isinstance(event, MetricLogged) and event.name == "expert_test_accuracy":
            cancel.set()

    with pytest.raises(Cancelled):
        train_experts(tiny_buffer_config(tiny_set, out), emit=kill_after_first, cancel=cancel)
    assert [entry["index"] for entry in json.loads((out / BUFFER_FILE).read_text())["experts"]] == [0]
    first = (out / expert_file(0)).read_bytes()
    assert not (out / expert_file(1)).exists()
    assert not [path for path in out.iterdir() if path.name.endswith(".partial")]
    result = train_experts(tiny_buffer_config(tiny_set, out))
    assert result.trained_now == 1 and result.experts == 2
    assert (out / expert_file(0)).read_bytes() == first
    reference = open_buffer(tiny_buffer)
    np.testing.assert_array_equal(open_buffer(out).trajectory(1), reference.trajectory(1))


def test_another_recipe_in_the_same_folder_is_refused(tiny_set: Path, tiny_buffer: Path) -> None:
    with pytest.raises(ModelError, match=r"another recipe \(lr 0.01 there, 0.05 asked\)"):
        train_experts(tiny_buffer_config(tiny_set, tiny_buffer, lr=0.05))


def test_batch_norm_networks_are_refused(tiny_set: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="batch norm"):
        train_experts(tiny_buffer_config(tiny_set, tmp_path / "bn", arch="galaxy-cnn"))


def test_damaged_trajectory_is_named(tiny_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "damaged"
    train_experts(tiny_buffer_config(tiny_set, out, experts=1, epochs=1))
    (out / expert_file(0)).write_bytes(b"not numpy")
    with pytest.raises(ModelError, match="expert_000.npy: not an expert trajectory of this buffer"):
        open_buffer(out)
    with pytest.raises(ModelError, match="not a buffer"):
        open_buffer(tmp_path)


def test_non_finite_snapshot_is_refused(tiny_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "nan"
    train_experts(tiny_buffer_config(tiny_set, out, experts=1, epochs=1))
    trajectory = np.load(out / expert_file(0))
    trajectory[1, 0] = np.nan
    np.save(out / expert_file(0), trajectory)
    with pytest.raises(ModelError, match="epoch 1 holds NaN"):
        open_buffer(out).snapshot(0, 1)
    assert torch.isfinite(torch.from_numpy(open_buffer(out).snapshot(0, 0))).all()


def test_the_missing_experts_are_split_by_position_among_ranks() -> None:
    finished = [expert_entry(index, 0.5) for index in (0, 3, 9)]
    missing = missing_experts(7, finished)
    assert missing == [1, 2, 4, 5, 6]
    for world in (1, 2, 3):
        shares = [share(missing, Ranks(rank, world, rank)) for rank in range(world)]
        assert sorted(index for part in shares for index in part) == missing, "each missing expert once"
        assert max(map(len, shares)) - min(map(len, shares)) <= 1, "even shares after a partial run"
    assert share(missing, Ranks(0, 2, 0)) == [1, 4, 6]
    assert share(missing, Ranks(1, 2, 1)) == [2, 5]
    assert share(missing_experts(2, finished[:1]), Ranks(1, 3, 1)) == []


def test_a_rerun_clears_killed_writes_and_retrains_experts_without_a_record(
    tiny_set: Path, tmp_path: Path, tiny_buffer: Path
) -> None:
    out = tmp_path / "killed"
    shutil.copytree(tiny_buffer, out)
    # Killed after writing expert 1's trajectory but before its record (so buffer.json does not
    # list it yet), and in the middle of other writes.
    (out / record_file(1)).unlink()
    (out / expert_file(1)).write_bytes(b"not trusted without its record")
    metadata = json.loads((out / BUFFER_FILE).read_text())
    (out / BUFFER_FILE).write_text(json.dumps({**metadata, "experts": metadata["experts"][:1]}))
    leftovers = [partial_path(out / expert_file(2)), partial_path(out / BUFFER_FILE)]
    for path in leftovers:
        path.write_bytes(b"half")
    first = (out / expert_file(0)).stat().st_mtime_ns
    result = train_experts(tiny_buffer_config(tiny_set, out))
    assert result.trained_now == 1 and result.experts == 2
    assert not any(path.exists() for path in leftovers)
    assert (out / expert_file(0)).stat().st_mtime_ns == first
    for name in (BUFFER_FILE, expert_file(1), record_file(1)):
        assert (out / name).read_bytes() == (tiny_buffer / name).read_bytes(), name


def test_a_damaged_record_means_an_unfinished_expert(tiny_set: Path, tmp_path: Path, tiny_buffer: Path) -> None:
    out = tmp_path / "damaged"
    shutil.copytree(tiny_buffer, out)
    (out / record_file(0)).write_text('{"index": 1, "file": "expert_001.npy", "test_accuracy": 0.5}')
    (out / record_file(1)).write_text("{")
    assert train_experts(tiny_buffer_config(tiny_set, out)).trained_now == 2
    assert (out / BUFFER_FILE).read_bytes() == (tiny_buffer / BUFFER_FILE).read_bytes()


def test_a_buffer_from_before_records_keeps_the_experts_it_lists(
    tiny_set: Path, tmp_path: Path, tiny_buffer: Path
) -> None:
    out = tmp_path / "older"
    shutil.copytree(tiny_buffer, out)
    metadata = json.loads((out / BUFFER_FILE).read_text())
    for entry in metadata["experts"]:
        (out / record_file(entry["index"])).unlink()
        entry["seconds"] = 1.5
    (out / BUFFER_FILE).write_text(json.dumps(metadata))
    assert train_experts(tiny_buffer_config(tiny_set, out)).trained_now == 0
    assert {path.name: path.read_bytes() for path in out.iterdir()} == {
        path.name: path.read_bytes() for path in tiny_buffer.iterdir()
    }


def test_small_colour_images_are_whitened_by_default_and_an_older_unwhitened_buffer_continues(
    tiny_set: Path, tmp_path: Path
) -> None:
    whitened = train_experts(tiny_buffer_config(tiny_set, tmp_path / "default", experts=1))
    assert open_buffer(whitened.buffer_dir).zca() is not None, "16 px colour: 768 values, whitened"
    older = tmp_path / "older"
    train_experts(tiny_buffer_config(tiny_set, older, experts=1, zca=False))
    continued = train_experts(tiny_buffer_config(tiny_set, older, experts=2))
    assert continued.trained_now == 1 and open_buffer(older).zca() is None
    with pytest.raises(ModelError, match="another recipe"):
        train_experts(tiny_buffer_config(tiny_set, older, experts=2, zca=True))


def test_fits_bands_are_not_whitened_by_default_and_their_display_is(tmp_path: Path) -> None:
    data = tmp_path / "fits"
    write_demo_set(data, per_class=6, size=24, fmt="fits", seed=5, classes=DEMO_CLASSES)
    bands = train_experts(tiny_buffer_config(data, tmp_path / "bands", experts=1, epochs=1, channels="bands"))
    assert open_buffer(bands.buffer_dir).zca() is None, "asinh signal-to-noise bands: the noise would be whitened up"
    display = train_experts(tiny_buffer_config(data, tmp_path / "display", experts=1, epochs=1))
    assert open_buffer(display.buffer_dir).zca() is not None
    asked = train_experts(tiny_buffer_config(data, tmp_path / "asked", experts=1, epochs=1, channels="bands", zca=True))
    assert open_buffer(asked.buffer_dir).zca() is not None


def test_the_default_batch_gives_a_small_set_epochs_of_many_steps_and_cifar_mtts(tiny_set: Path) -> None:
    from galaxy_studio.distill.config import BufferConfig
    from galaxy_studio.distill.experts import _batch_size

    auto = BufferConfig(data=str(tiny_set), out_dir="b")
    assert [_batch_size(auto, None, n) for n in (100, 960, 2048, 4000, 50_000)] == [32, 32, 64, 64, 256]
    assert _batch_size(BufferConfig(data="d", out_dir="b", batch_size=100), None, 50_000) == 100, "asked: as asked"


def test_an_existing_buffer_keeps_its_own_batch_under_the_default(tiny_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "built-with-8"
    train_experts(tiny_buffer_config(tiny_set, out, experts=1, epochs=1))
    continued = train_experts(tiny_buffer_config(tiny_set, out, experts=2, epochs=1, batch_size=None))
    assert continued.trained_now == 1 and open_buffer(out).config.batch_size == 8
    fresh = tmp_path / "auto"
    train_experts(tiny_buffer_config(tiny_set, fresh, experts=1, epochs=1, batch_size=None))
    assert open_buffer(fresh).config.batch_size == 32, "the tiny set's few images: the smallest automatic batch"
    with pytest.raises(ModelError, match="another recipe"):
        train_experts(tiny_buffer_config(tiny_set, fresh, experts=2, epochs=1, batch_size=16))
