"""The labelling session: the open project, who is labelling, and what changed, without a GUI.

Everything that labels goes through one session (the GUI's five panels share one; a script or
test makes its own), so there is one open project, one labeller, one undo history per
labeller and one "last batch", and every change is announced to whoever listens. A listener
is a plain callable taking one event; it is called in the thread that made the change (a
worker thread for a large batch), which is why the GUI listens through a Qt adapter that
delivers each event in the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from galaxy_studio.errors import UserError
from galaxy_studio.events import NEVER, CancelToken, EventSink, ignore
from galaxy_studio.labels.class_mapping import ClassMapping, map_class_names
from galaxy_studio.labels.class_styles import ClassPalette, ClassStyle
from galaxy_studio.labels.labeller import default_labeller, set_default_labeller
from galaxy_studio.labels.records import BatchUndone
from galaxy_studio.labels.store import Project

if TYPE_CHECKING:
    from galaxy_studio.data.catalog import CatalogItem
    from galaxy_studio.labels.schemes import ClassScheme


class NoProjectOpen(UserError):
    def __init__(self) -> None:
        super().__init__("no labelling project is open", "open or create a project first")


@dataclass(frozen=True)
class ProjectOpened:
    project: Project


@dataclass(frozen=True)
class ProjectClosed:
    path: Path


@dataclass(frozen=True)
class LabelsChanged:
    """Labels of these images changed; None: any image may have (images were added,
    relinked or given suggestions), so re-read the whole project."""

    image_ids: frozenset[int] | None


@dataclass(frozen=True)
class ClassesChanged:
    classes: tuple[str, ...]


@dataclass(frozen=True)
class LabellerChanged:
    labeller: str


@dataclass(frozen=True)
class ClassMappingChanged:
    """The project's stored class mapping (outside name -> class, "" = skip) is now this."""

    aliases: tuple[tuple[str, str], ...]


SessionEvent = ProjectOpened | ProjectClosed | LabelsChanged | ClassesChanged | LabellerChanged | ClassMappingChanged
Listener = Callable[[SessionEvent], None]


class LabellingSession:
    """One open project (or none) and the labeller whose labels the session writes."""

    def __init__(self, labeller: str | None = None) -> None:
        self._labeller = (labeller or default_labeller()).strip()
        self._project: Project | None = None
        self._listeners: list[Listener] = []
        self.last_batch: int | None = None
        self._data_classes: tuple[str, ...] = ()
        self._palette = ClassPalette(())
        # The project's stored class mapping is read again after it changes or another opens.
        self._palette_aliases_stale = True

    # -- listening -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _notify(self, event: SessionEvent) -> None:
        if isinstance(event, (ClassMappingChanged, ProjectOpened, ProjectClosed)):
            self._palette_aliases_stale = True
        for listener in list(self._listeners):
            listener(event)

    # -- the project -----------------------------------------------------------------------

    @property
    def project(self) -> Project | None:
        return self._project

    @property
    def project_path(self) -> Path | None:
        return None if self._project is None else self._project.path

    def require_project(self) -> Project:
        if self._project is None:
            raise NoProjectOpen()
        return self._project

    def create(self, path: Path, scheme: ClassScheme) -> Project:
        """Create a project and make it the open one (the one open before is closed)."""
        return self._adopt(Project.create(path, scheme))

    def open(self, path: Path) -> Project:
        """Open a project and make it the open one; a damaged file raises ProjectDamaged and
        leaves the open project as it was."""
        return self._adopt(Project.open(path))

    def close(self) -> None:
        if self._project is None:
            return
        project, self._project = self._project, None
        self.last_batch = None
        project.close()
        self._notify(ProjectClosed(project.path))

    def _adopt(self, project: Project) -> Project:
        self.close()
        self._project = project
        self._notify(ProjectOpened(project))
        return project

    def changed_outside(self) -> None:
        """The project's file changed through another connection (images added off the GUI
        thread, suggestions stored, files relinked): listeners re-read it."""
        if self._project is not None:
            self._notify(LabelsChanged(None))

    def back_up(self) -> Path | None:
        return None if self._project is None else self._project.back_up()

    # -- the labeller ----------------------------------------------------------------------

    @property
    def labeller(self) -> str:
        return self._labeller

    def set_labeller(self, name: str, *, remember: bool = False) -> None:
        """Label as `name` from now on; `remember` also makes it the default of later sessions."""
        name = name.strip()
        if not name:
            raise ValueError("a labeller name cannot be empty")
        if remember:
            set_default_labeller(name)
        self._labeller = name
        self._notify(LabellerChanged(name))

    # -- labels ----------------------------------------------------------------------------

    def label(self, image_id: int, class_name: str) -> None:
        """The labeller's label for one image, on disk when this returns."""
        self.require_project().label(image_id, class_name, labeller=self._labeller)
        self._notify(LabelsChanged(frozenset([image_id])))

    def undo(self) -> int | None:
        """Undo the labeller's last label change; returns the image, or None with nothing to undo."""
        image_id = self.require_project().undo(self._labeller)
        if image_id is not None:
            self._notify(LabelsChanged(frozenset([image_id])))
        return image_id

    def redo(self) -> int | None:
        image_id = self.require_project().redo(self._labeller)
        if image_id is not None:
            self._notify(LabelsChanged(frozenset([image_id])))
        return image_id

    def label_many(self, image_ids: Sequence[int], class_name: str) -> int:
        """Label the images as one batch, which becomes the last batch; returns its id."""
        project = self.require_project()
        batch = project.label_many(image_ids, class_name, labeller=self._labeller)
        self.last_batch = batch
        self._notify(LabelsChanged(frozenset(image_ids)))
        return batch

    def add_and_label(
        self,
        items: Sequence[CatalogItem],
        class_name: str,
        *,
        emit: EventSink = ignore,
        cancel: CancelToken = NEVER,
        remember_batch: bool = True,
    ) -> int:
        """Add what the project lacks and label every item, as one batch; returns its id. With
        `remember_batch` off (one image added from Classify) the last batch stays as it was,
        so that Undo batch still takes back the last selection labelled as a group."""
        project = self.require_project()
        batch = project.add_and_label(items, class_name, labeller=self._labeller, emit=emit, cancel=cancel)
        if remember_batch:
            self.last_batch = batch
        self._notify(LabelsChanged(None))
        return batch

    def undo_batch(self, batch_id: int | None = None) -> BatchUndone | None:
        """Take back a batch (by default the last one; None when there is none); see
        `Project.undo_batch` for images labelled again since. The last batch, once taken
        back, is forgotten."""
        project = self.require_project()
        wanted = self.last_batch if batch_id is None else batch_id
        if wanted is None:
            return None
        undone = project.undo_batch(wanted)
        if wanted == self.last_batch:
            self.last_batch = None
        if undone.image_ids:
            self._notify(LabelsChanged(frozenset(undone.image_ids)))
        return undone

    # -- classes ---------------------------------------------------------------------------

    def add_class(self, name: str) -> None:
        self.require_project().add_class(name)
        self._classes_changed(labels_too=False)

    def rename_class(self, old: str, new: str) -> None:
        self.require_project().rename_class(old, new)
        self._classes_changed(labels_too=True)

    def merge_classes(self, sources: list[str], into: str) -> int:
        changed = self.require_project().merge_classes(sources, into)
        self._classes_changed(labels_too=True)
        return changed

    def reorder_classes(self, names: list[str]) -> None:
        self.require_project().reorder_classes(names)
        self._classes_changed(labels_too=False)

    # -- how classes look ------------------------------------------------------------------

    def set_data_classes(self, names: Sequence[str]) -> None:
        """The class folders of the data the Library shows while no project is open: they
        are the scheme that colours and keys follow until a project is opened."""
        self._data_classes = tuple(names)

    def palette(self) -> ClassPalette:
        """The palette of the open project's classes (else the data's), kept while they stay
        the same so that names outside them keep their colours too."""
        scheme = tuple(self._project.classes) if self._project is not None else self._data_classes
        if self._palette.classes != scheme or self._palette_aliases_stale:
            aliases = self._project.class_aliases() if self._project is not None else {}
            self._palette = ClassPalette(scheme, aliases)
            self._palette_aliases_stale = False
        return self._palette

    def class_styles(self, names: Sequence[str]) -> list[ClassStyle]:
        """The colour and key of each name, read as the class of the scheme it stands for."""
        return self.palette().styles(names)

    def class_style(self, name: str) -> ClassStyle:
        return self.palette().style(name)

    # -- class mapping ---------------------------------------------------------------------

    def propose_class_mapping(self, names: Iterable[str]) -> ClassMapping:
        """How outside names (folders, a label file's or a model's classes) would be read as the
        project's classes now: same name, then the stored mapping, then an unambiguous match."""
        project = self.require_project()
        return map_class_names(names, project.classes, None, project.class_aliases())

    def confirm_class_mapping(self, choices: dict[str, str]) -> None:
        """Store what the user confirmed (outside name -> class, or SKIP) so the next folder or
        model with these names is read the same way; names that are classes need no alias."""
        project = self.require_project()
        aliases = {outside: inside for outside, inside in choices.items() if outside not in project.classes}
        if aliases:
            project.set_class_aliases(aliases)
            self._notify(ClassMappingChanged(tuple(project.class_aliases().items())))

    def forget_class_aliases(self, names: Iterable[str]) -> int:
        """Forget stored mappings; the names are proposed afresh next time."""
        project = self.require_project()
        forgotten = project.forget_class_aliases(list(names))
        if forgotten:
            self._notify(ClassMappingChanged(tuple(project.class_aliases().items())))
        return forgotten

    def _classes_changed(self, *, labels_too: bool) -> None:
        """A rename or merge changes what labels read as, so their listeners re-read them too."""
        self._notify(ClassesChanged(tuple(self.require_project().classes)))
        if labels_too:
            self._notify(LabelsChanged(None))
