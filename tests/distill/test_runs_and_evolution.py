"""What the Distill panel reads of a run folder without torch, the evolution exports made
from its snapshots, the demo recipe, and the time-per-iteration estimate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galaxy_studio import run_folders
from galaxy_studio.distill import run_state, runner, runs
from galaxy_studio.distill.evolution import class_rows, evenly_spaced, write_evolution_gif, write_evolution_strip
from galaxy_studio.distill.runs import (
    list_distill_runs,
    load_snapshot,
    read_distill_run,
    save_evaluation,
    snapshot_steps,
)
from galaxy_studio.distill.timing import estimate_iteration_seconds
from galaxy_studio.events import Cancelled, CancelToken, IterationFinished, Progressed
from galaxy_studio.model.errors import ModelError

from .conftest import tiny_distill_config


def test_the_torch_free_file_names_match_the_runner() -> None:
    assert (run_folders.CONFIG_FILE, runs.STATE_FILE, run_folders.HISTORY_FILE, runs.SNAPSHOT_DIR) == (
        runner.CONFIG_FILE,
        run_state.STATE_FILE,
        run_state.HISTORY_FILE,
        runner.SNAPSHOT_DIR,
    )
    assert runs.snapshot_file("r", 42) == runner.snapshot_path("r", 42)


@pytest.fixture(scope="module")
def finished_and_cancelled(tiny_buffer: Path, tiny_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    runner.distill(tiny_distill_config(tiny_buffer, tiny_set, root / "finished", iterations=5))
    token = CancelToken()

    def cancel_after_four(event: object) -> None:
        if isinstance(event, IterationFinished) and event.iteration == 4:
            token.set()

    with pytest.raises(Cancelled):
        runner.distill(
            tiny_distill_config(tiny_buffer, tiny_set, root / "cancelled", iterations=50),
            emit=cancel_after_four,
            cancel=token,
        )
    (root / "not-a-run").mkdir()
    return root


def test_runs_are_listed_with_their_status_history_and_evaluation(finished_and_cancelled: Path) -> None:
    root = finished_and_cancelled
    save_evaluation(root / "finished", {"distilled": {"mean": 0.5}})
    found = {run.name: run for run in list_distill_runs(root)}
    assert set(found) == {"finished", "cancelled"}
    assert found["finished"].status == "finished" and found["finished"].iterations == 5
    assert found["finished"].metrics == {"distilled": {"mean": 0.5}}
    # checkpoint_every=3: the checkpoint after iteration 3 survives the cancel at 4.
    assert found["cancelled"].status == "unfinished" and found["cancelled"].iterations == 3
    assert read_distill_run(root / "not-a-run") is None
    assert list_distill_runs(root / "missing") == []


def test_snapshots_are_found_and_read(finished_and_cancelled: Path) -> None:
    run = finished_and_cancelled / "finished"
    assert snapshot_steps(run) == [0, 2, 4, 5]
    images, labels = load_snapshot(run, 4)
    assert images.shape == (6, 16, 16, 3) and images.dtype == np.uint8 and labels.tolist() == [0, 0, 1, 1, 2, 2]
    (run / "snapshots" / "step_000009.npz").write_bytes(b"not an npz")
    with pytest.raises(ModelError, match="step_000009.npz: unreadable snapshot"):
        load_snapshot(run, 9)
    (run / "snapshots" / "step_000009.npz").unlink()


def test_evolution_gif_and_strip_hold_the_snapshots_in_order(finished_and_cancelled: Path, tmp_path: Path) -> None:
    run = finished_and_cancelled / "finished"
    assert write_evolution_gif(run, tmp_path / "e.gif", scale=2) == 4
    with Image.open(tmp_path / "e.gif") as gif:
        assert gif.n_frames == 4 and gif.info.get("loop") == 0
        frame_size = gif.size
    # 3 classes x 2 images of 16 px at scale 2, gaps of 2, a 14 px caption.
    assert frame_size == (2 * 32 + 3 * 2, 3 * 32 + 4 * 2 + 14)
    assert write_evolution_strip(run, tmp_path / "s.png", frames=3, scale=2) == 3
    with Image.open(tmp_path / "s.png") as strip:
        assert strip.size == (3 * frame_size[0] + 2 * 6, frame_size[1])
    with pytest.raises(ModelError, match="no snapshot"):
        write_evolution_gif(tmp_path, tmp_path / "none.gif")


def test_class_rows_and_evenly_spaced_steps() -> None:
    images = np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1).repeat(3, axis=3)
    cells, columns = class_rows(images, np.array([1, 0, 1, 1, 0]))
    assert columns == 3 and cells[:, 0, 0, 0].tolist() == [1, 4, 24, 0, 2, 3]
    assert evenly_spaced(list(range(0, 100, 10)), 4) == [0, 30, 60, 90]
    assert evenly_spaced([0, 5], 8) == [0, 5] and evenly_spaced([0, 5, 9], 1) == [9]


def test_iteration_time_is_measured_on_the_buffer(tiny_buffer: Path, tiny_set: Path, tmp_path: Path) -> None:
    events: list[object] = []
    seconds = estimate_iteration_seconds(tiny_distill_config(tiny_buffer, tiny_set, tmp_path), emit=events.append)
    assert 0 < seconds < 30
    assert [e.done for e in events if isinstance(e, Progressed)] == [1, 2, 3]
