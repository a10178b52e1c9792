"""One label per image from several labellers' labels.

People outrank files and models: the majority of the human labels wins, a tie goes to the
most recent label among the tied classes, and import or model labels count only for an
image no person has labelled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from galaxy_studio.labels.records import LabelRecord


def consensus_label(labels: Sequence[LabelRecord]) -> LabelRecord | None:
    """The winning label (the latest of its class), or None for no labels."""
    if len(labels) == 1:
        return labels[0]
    human = [label for label in labels if label.source == "human"]
    pool = human or list(labels)
    if not pool:
        return None
    votes = Counter(label.class_name for label in pool)
    most = max(votes.values())
    return max((label for label in pool if votes[label.class_name] == most), key=lambda label: label.timestamp)


def human_classes(labels: Sequence[LabelRecord]) -> set[str]:
    return {label.class_name for label in labels if label.source == "human"}


def human_labellers(labels: Sequence[LabelRecord]) -> int:
    return sum(1 for label in labels if label.source == "human")
