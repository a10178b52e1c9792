"""Active learning: a model's guesses for a project's unlabelled images, kept as suggestions.

Labelling the images the model is least sure of (highest entropy) first gives the most
information per label. Suggestions are stored in one transaction at the end, so a cancelled
or failed run leaves the project as it was.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from galaxy_studio.events import NEVER, CancelToken, EventSink, ignore
from galaxy_studio.labels.class_mapping import LabelCounts, map_class_names
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.records import Suggestion
from galaxy_studio.labels.store import Project
from galaxy_studio.model.classification import DEFAULT_BATCH, classify_items, open_classifier
from galaxy_studio.model.errors import ModelError


@dataclass(frozen=True)
class SuggestConfig:
    project: str
    model: str
    tta: bool = False
    batch_size: int = DEFAULT_BATCH
    device: str = "auto"
    # Model class -> project class ("" = store no suggestion of that class), before the
    # project's stored aliases and the automatic match.
    class_map: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SuggestResult:
    """`ranked` holds (image name, suggestion), most uncertain first."""

    model: str
    stored: int
    ranked: tuple[tuple[str, Suggestion], ...]
    failures: tuple[tuple[str, str], ...] = field(default=())
    seconds: float = 0.0
    counts: LabelCounts = field(default_factory=LabelCounts)


def suggest_labels(config: SuggestConfig, *, emit: EventSink = ignore, cancel: CancelToken = NEVER) -> SuggestResult:
    """Classify every image of the project that nobody has labelled (and that is on disk)
    and store the predicted class, its probability and the entropy as suggestions."""
    started = time.perf_counter()
    classifier = open_classifier(config.model)
    with Project.open(Path(config.project)) as project:
        mapping = map_class_names(classifier.classes, project.classes, config.class_map, project.class_aliases())
        foreign = mapping.unmapped
        if foreign:
            raise ModelError(
                f"{classifier.checkpoint}: the model's classes {', '.join(foreign)} are not classes of "
                f"{project.path} ({', '.join(project.classes)}), so its suggestions could not be stored; "
                "map them to the project's classes or to skip"
            )
        labelled = {record.image_id for record in project.all_labels()}
        images = [record for record in project.images() if record.id not in labelled and not record.missing]
        by_key = {(record.path, record.index): record for record in images}
        predictions, failures = classify_items(
            classifier,
            [record.item() for record in images],
            tta=config.tta,
            batch_size=config.batch_size,
            device=config.device,
            emit=emit,
            cancel=cancel,
        )
        cancel.raise_if_set()
        suggestions = [
            Suggestion(
                by_key[(p.path, p.index)].id, mapping.class_of(p.predicted), classifier.name, p.confidence, p.entropy
            )
            for p in predictions
            if p.predicted not in mapping.skipped
        ]
        counts = LabelCounts.tally((p.predicted for p in predictions), mapping, project.classes)
        try:
            stored = project.store_suggestions(suggestions)
        except ProjectError as error:
            raise ModelError(str(error)) from None
    names = {by_key[(p.path, p.index)].id: p.name for p in predictions}
    ranked = sorted(suggestions, key=lambda s: (-s.entropy, s.image_id))
    return SuggestResult(
        str(classifier.checkpoint),
        stored,
        tuple((names[s.image_id], s) for s in ranked),
        tuple(failures),
        time.perf_counter() - started,
        counts,
    )
