"""Expert trajectories: layout on disk, memory-mapped reading, size told up front, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.distill.experts import BUFFER_FILE, buffer_bytes, expert_file, open_buffer, train_experts
from galaxy_studio.distill.params import flat_parameters
from galaxy_studio.events import BufferPlanned, Cancelled, CancelToken, MetricLogged
from galaxy_studio.model.architectures import model_from_spec
from galaxy_studio.model.errors import ModelError

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
    with pytest.raises(ModelError, match="another recipe"):
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
