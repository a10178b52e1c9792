"""The labelling session: one open project, one labeller, batches, and a notice for every change."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.labels.labeller import default_labeller
from galaxy_studio.labels.schemes import BUILTIN_SCHEMES
from galaxy_studio.labels.session import (
    ClassesChanged,
    LabellerChanged,
    LabellingSession,
    LabelsChanged,
    NoProjectOpen,
    ProjectClosed,
    ProjectOpened,
    SessionEvent,
)
from galaxy_studio.labels.store import Project, ProjectError

from .conftest import write_pngs


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    write_pngs(tmp_path / "images", 5)
    path = tmp_path / "s.gsproj"
    with Project.create(path, BUILTIN_SCHEMES["spiral"]) as project:
        project.add_paths([tmp_path / "images"])
    return path


@pytest.fixture
def session() -> LabellingSession:
    return LabellingSession("ada")


@pytest.fixture
def heard(session: LabellingSession) -> list[SessionEvent]:
    events: list[SessionEvent] = []
    session.subscribe(events.append)
    return events


def test_opening_another_project_closes_the_first_and_says_so(
    session: LabellingSession, heard: list[SessionEvent], project_path: Path, tmp_path: Path
) -> None:
    first = session.open(project_path)
    assert session.project is first and session.project_path == project_path
    second = session.create(tmp_path / "new.gsproj", BUILTIN_SCHEMES["galaxy10"])
    assert session.project is second
    assert heard == [ProjectOpened(first), ProjectClosed(project_path), ProjectOpened(second)]
    with pytest.raises(Exception, match="closed"):
        _ = first.classes
    session.close()
    session.close()
    assert session.project is None and heard[-1] == ProjectClosed(tmp_path / "new.gsproj")
    assert len(heard) == 4, "closing twice says it once"


def test_labels_undo_and_redo_name_the_image_they_changed(
    session: LabellingSession, heard: list[SessionEvent], project_path: Path
) -> None:
    project = session.open(project_path)
    a = project.images()[0].id
    heard.clear()
    session.label(a, "spiral")
    assert project.labels("ada")[a].class_name == "spiral"
    assert session.undo() == a and session.redo() == a
    assert session.redo() is None
    assert heard == [LabelsChanged(frozenset([a]))] * 3, "nothing redone, nothing said"


def test_a_batch_is_remembered_taken_back_once_and_announced(
    session: LabellingSession, heard: list[SessionEvent], project_path: Path
) -> None:
    project = session.open(project_path)
    a, b, c, d = [record.id for record in project.images()][:4]
    heard.clear()
    batch = session.label_many([a, b, c], "spiral")
    assert session.last_batch == batch
    session.label(d, "non-spiral")
    undone = session.undo_batch()
    assert undone is not None and undone.image_ids == (a, b, c)
    assert {i: r.class_name for i, r in project.labels("ada").items()} == {d: "non-spiral"}
    assert session.last_batch is None and session.undo_batch() is None
    assert heard == [
        LabelsChanged(frozenset([a, b, c])),
        LabelsChanged(frozenset([d])),
        LabelsChanged(frozenset([a, b, c])),
    ]


def test_add_and_label_from_a_worker_thread_calls_listeners_there(
    session: LabellingSession, project_path: Path, tmp_path: Path
) -> None:
    session.open(project_path)
    threads: list[str] = []
    session.subscribe(lambda event: threads.append(threading.current_thread().name))
    new = write_pngs(tmp_path / "more", 1, seed=3)[0]
    with pytest.raises(ProjectError, match="unknown class 'bar'"):
        session.add_and_label([CatalogItem(str(new))], "bar")
    assert threads == [] and session.last_batch is None, "a refused batch says nothing"
    worker = threading.Thread(target=lambda: session.add_and_label([CatalogItem(str(new))], "spiral"), name="worker")
    worker.start()
    worker.join()
    assert threads == ["worker"], "one notice, in the thread that labelled"
    assert session.last_batch is not None


def test_a_single_add_can_leave_the_last_batch_alone(session: LabellingSession, project_path: Path) -> None:
    project = session.open(project_path)
    batch = session.label_many([project.images()[0].id], "spiral")
    session.add_and_label([project.images()[1].item()], "non-spiral", remember_batch=False)
    assert session.last_batch == batch


def test_the_labeller_changes_and_can_be_remembered(session: LabellingSession, heard: list[SessionEvent]) -> None:
    session.set_labeller("  bob ")
    assert session.labeller == "bob" and heard == [LabellerChanged("bob")]
    session.set_labeller("cy", remember=True)
    assert default_labeller() == "cy"
    with pytest.raises(ValueError):
        session.set_labeller(" ")
    assert session.labeller == "cy"


def test_class_edits_announce_the_classes_and_relabelled_images(
    session: LabellingSession, heard: list[SessionEvent], project_path: Path
) -> None:
    session.open(project_path)
    heard.clear()
    session.add_class("merger")
    session.rename_class("merger", "Merger")
    assert heard == [
        ClassesChanged(("spiral", "non-spiral", "merger")),
        ClassesChanged(("spiral", "non-spiral", "Merger")),
        LabelsChanged(None),
    ]


def test_without_a_project_labelling_says_what_to_do(session: LabellingSession, heard: list[SessionEvent]) -> None:
    with pytest.raises(NoProjectOpen, match="open or create a project first"):
        session.label(1, "spiral")
    session.changed_outside()
    assert heard == []


def test_an_unsubscribed_listener_hears_nothing(session: LabellingSession, project_path: Path) -> None:
    events: list[SessionEvent] = []
    session.subscribe(events.append)
    session.unsubscribe(events.append)
    session.open(project_path)
    assert events == []
