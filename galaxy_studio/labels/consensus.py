"""One label per image from several labellers' labels.

People outrank files and models: the majority of the human labels wins, a tie goes to the
most recent label among the tied classes, and import or model labels count only for an
image no person has labelled.

`counted_label` is the one rule for which label an image has wherever labels are used: the
Library's badges, the Explore map, training and the inventory that embeddings are scored
against all ask it, so they never disagree about an image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from galaxy_studio.labels.records import LabelRecord

MODEL = "model"


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


def counted_label(
    labels: Sequence[LabelRecord], *, labeller: str | None = None, model_labels_count: bool = False
) -> LabelRecord | None:
    """The label that counts for one image, given all its labellers' labels.

    A labeller sees their own label first: it is what they chose, whatever the others say.
    Otherwise the consensus counts. A model's label is only its guess: it is shown where
    asked (`model_labels_count`, the Library's badges) but is never ground truth to train
    on, score clusters against or colour the map by, so there the image counts as unlabelled.
    """
    own = [label for label in labels if label.labeller == labeller and (model_labels_count or label.source != MODEL)]
    if own:
        return own[0]
    chosen = consensus_label(labels)
    if chosen is None or (chosen.source == MODEL and not model_labels_count):
        return None
    return chosen


def human_classes(labels: Sequence[LabelRecord]) -> set[str]:
    return {label.class_name for label in labels if label.source == "human"}


def human_labellers(labels: Sequence[LabelRecord]) -> int:
    return sum(1 for label in labels if label.source == "human")
