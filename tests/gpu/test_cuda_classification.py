"""Classification and explanations on CUDA agree with the CPU: the same probabilities to 1e-4
(with and without the 8-view test-time augmentation) and the same saliency maps to a relative
difference of 1e-3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from galaxy_studio.data.catalog import catalog_from_paths, read_item
from galaxy_studio.model.classification import classify_items, open_classifier
from galaxy_studio.model.config import EXPLANATION_METHODS
from galaxy_studio.model.explain import attribution_map, empty_sky_input, explainable_copy
from galaxy_studio.model.preprocessing import prepare_cutout
from galaxy_studio.model.training import TrainResult

from .conftest import GPU, needs_both_devices

pytestmark = [*GPU, needs_both_devices]

# Relative L2 difference of a map on CUDA from the CPU's (SmoothGrad's noise is drawn on the
# CPU for both, so it compares like the others).
MAP_TOLERANCE = 1e-3


@pytest.mark.parametrize("tta", [False, True])
def test_probabilities_on_cuda_equal_the_cpus(tta: bool, trained_run: TrainResult, demo_set: Path) -> None:
    items = catalog_from_paths([demo_set]).items
    results = {}
    for device in ("cpu", "cuda"):
        predictions, failures = classify_items(
            open_classifier(trained_run.checkpoint), items, tta=tta, device=device, batch_size=32
        )
        assert not failures
        results[device] = np.array([prediction.probabilities for prediction in predictions])
    assert np.abs(results["cuda"] - results["cpu"]).max() < 1e-4
    assert (results["cuda"].argmax(axis=1) == results["cpu"].argmax(axis=1)).all()


@pytest.mark.parametrize("method", EXPLANATION_METHODS)
def test_every_explanation_on_cuda_matches_the_cpu(method: str, trained_run: TrainResult, demo_set: Path) -> None:
    classifier = open_classifier(trained_run.checkpoint)
    image = prepare_cutout(read_item(catalog_from_paths([demo_set]).items[0]), classifier.prep)
    sky = empty_sky_input(classifier.prep)
    maps = {}
    for device in ("cpu", "cuda"):
        model = explainable_copy(classifier.model).to(torch.device(device))
        maps[device] = attribution_map(model, image, 1, method, sky=sky, seed=0)
    cpu, cuda = maps["cpu"], maps["cuda"]
    assert cuda.shape == cpu.shape and np.isfinite(cuda).all()
    assert np.linalg.norm(cuda - cpu) / max(np.linalg.norm(cpu), 1e-12) < MAP_TOLERANCE
