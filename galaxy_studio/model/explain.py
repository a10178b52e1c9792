"""Where the network looked: attribution maps with Captum, brought back onto the cutout.

Every method returns a non-negative importance map at the network's input resolution:
Saliency the largest absolute gradient over the channels (Simonyan et al.); SmoothGrad the
same of the gradient averaged over noisy copies (Smilkov et al.: averaging the signed
gradients is what cancels their noise; averaging absolute values would turn that noise into
a positive haze that follows the image, whatever the weights); Integrated Gradients the
evidence for the class gained along the path from an empty black sky to the cutout, summed
over the channels, positive part only; Grad-CAM the positive class evidence of the last
convolution (upsampled); Occlusion the drop in the class score when a patch is replaced by
empty sky (only drops count). Empty sky, not the mean colour (an input of zeros after
normalisation), is the reference: a grey patch is something the network never saw, while a
black sky is what "no galaxy here" looks like. `map_to_cutout` undoes the centre crop and
resize of the preprocessing: the map covers the crop region of the full cutout and is zero
outside it, in the orientation `render_rgb` draws the cutout (FITS first row at the bottom, as DS9 shows it).
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import nn

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import origin_lower
from galaxy_studio.model.config import COLOUR_MAPS, EXPLANATION_METHODS
from galaxy_studio.model.dihedral import VIEWS, unturned_mean
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.precision import cuda_precision
from galaxy_studio.model.preprocessing import Preprocessing, normalise, prepare_cutout

if TYPE_CHECKING:
    from captum.attr import Saliency

METHODS = EXPLANATION_METHODS
SMOOTHGRAD_SAMPLES = 16
SMOOTHGRAD_NOISE = 0.15  # of the input's value range, as Smilkov et al. recommend (10-20%)
IG_STEPS = 32
# Integrated Gradients evaluates IG_STEPS scaled copies of the image; this many at a time
# bounds its memory to that of a small batch whatever the step count.
IG_INTERNAL_BATCH = 8


def explainable_copy(model: nn.Module) -> nn.Module:
    """A copy in eval mode whose ReLUs do not work in place: Captum's hooks read a layer's
    output after the next layer ran, which an in-place ReLU would have overwritten."""
    twin = copy.deepcopy(model).eval()
    for module in twin.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return twin


def last_conv_layer(model: nn.Module) -> nn.Conv2d:
    convs = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    if not convs:
        raise ModelError("Grad-CAM needs a convolutional layer and this network has none")
    return convs[-1]


def empty_sky_input(prep: Preprocessing) -> np.ndarray:
    """The network input (C, S, S) of a cutout with no light at all: black in display mode,
    zero signal-to-noise in bands mode. Integrated Gradients and Occlusion measure against it."""
    return normalise(np.zeros((prep.n_channels, prep.size, prep.size), np.float32), prep)


def attribution_map(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    target: int,
    method: str,
    *,
    sky: np.ndarray | torch.Tensor,
    seed: int = 0,
) -> np.ndarray:
    """(S, S) float32 non-negative importance of each input pixel for class `target`, from a
    normalised (C, S, S) image and the same model's `empty_sky_input`; `model` should come
    from `explainable_copy`."""
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency

    if method not in METHODS:
        raise ModelError(f"unknown explanation method {method!r}; choose from {', '.join(METHODS)}")
    device = next(model.parameters()).device
    inputs = torch.as_tensor(image, dtype=torch.float32).unsqueeze(0).to(device)
    inputs.requires_grad_(True)
    reference = torch.as_tensor(sky, dtype=torch.float32).to(device).expand_as(inputs).contiguous()
    side = inputs.shape[-1]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), cuda_precision("fp32", device):
        torch.manual_seed(seed)
        if method == "saliency":
            attribution = Saliency(model).attribute(inputs, target=target, abs=True).amax(dim=1)
        elif method == "smoothgrad":
            attribution = _smoothgrad(Saliency(model), inputs, target, seed).abs().amax(dim=1)
        elif method == "ig":
            attribution = (
                IntegratedGradients(model)
                .attribute(
                    inputs,
                    baselines=reference,
                    target=target,
                    n_steps=IG_STEPS,
                    internal_batch_size=IG_INTERNAL_BATCH,
                )
                .sum(dim=1)
            )
        elif method == "gradcam":
            cam = LayerGradCam(model, last_conv_layer(model)).attribute(inputs, target=target, relu_attributions=True)
            if len(cam) == VIEWS * len(inputs):
                # A turn-invariant network's last layer saw the 8 turned views: each view's map,
                # turned back, is a map of the same image, and their mean is what it saw.
                cam = unturned_mean(cam)
            attribution = LayerAttribution.interpolate(cam, (side, side), interpolate_mode="bilinear")[:, 0]
        else:
            window = max(2, side // 8)
            stride = max(1, window // 2)
            channels = inputs.shape[1]
            attribution = (
                Occlusion(model)
                .attribute(
                    inputs,
                    sliding_window_shapes=(channels, window, window),
                    strides=(channels, stride, stride),
                    baselines=reference,
                    target=target,
                    perturbations_per_eval=16,
                )
                .sum(dim=1)
                .clamp(min=0.0)
            )
    values = attribution[0].detach().float().cpu().numpy()
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0).astype(np.float32)


def _smoothgrad(saliency: Saliency, inputs: torch.Tensor, target: int, seed: int) -> torch.Tensor:
    """The signed gradient averaged over SMOOTHGRAD_SAMPLES noisy copies of `inputs`. The noise
    is drawn on the CPU from `seed` (Captum's NoiseTunnel draws on the input's device), so a
    cutout gets the same map on a GPU as on the CPU; copies go through in two batches."""
    spread = float(inputs.detach().max() - inputs.detach().min()) or 1.0
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((SMOOTHGRAD_SAMPLES, *inputs.shape[1:]), generator=generator) * (SMOOTHGRAD_NOISE * spread)
    total = torch.zeros_like(inputs)
    for chunk in noise.split(SMOOTHGRAD_SAMPLES // 2):
        noisy = (inputs.detach() + chunk.to(inputs.device)).requires_grad_(True)
        gradients = saliency.attribute(noisy, target=target, abs=False)
        total += gradients.sum(dim=0, keepdim=True)
    return total / SMOOTHGRAD_SAMPLES


OUTLINE_GREY = (220, 222, 228)


def crop_box(prep: Preprocessing, height: int, width: int) -> tuple[int, int, int]:
    """(left, top, side) in pixels of the central square the network reads of a height x width
    cutout: a map covers only it, so a viewer outlines it to show where the map can fall."""
    crop_side = min(height, width) * prep.crop_fraction
    left = int(math.floor(width / 2 - crop_side / 2 + 0.5))
    top = int(math.floor(height / 2 - crop_side / 2 + 0.5))
    return left, top, max(1, round(crop_side))


def outlined_box(prep: Preprocessing, height: int, width: int) -> tuple[int, int, int] | None:
    """The crop box a viewer outlines, or None when the network reads the whole cutout (an
    outline along the picture's edge would say nothing)."""
    box = crop_box(prep, height, width)
    return None if box[2] >= min(height, width) else box


def outline_view(rgb: np.ndarray, box: tuple[int, int, int], *, dash: int = 4, gap: int = 3) -> np.ndarray:
    """A copy of the (H, W, 3) picture with the box's edge dashed in light grey, as the Classify
    tab outlines what the network reads: a saved overlay ends at the same edge."""
    out = np.array(rgb, copy=True)
    height, width = out.shape[:2]
    left, top, side = box
    right, bottom = min(left + side, width) - 1, min(top + side, height) - 1
    left, top = max(left, 0), max(top, 0)
    on = (np.arange(max(height, width)) % (dash + gap)) < dash
    rows, cols = np.arange(top, bottom + 1), np.arange(left, right + 1)
    for row in (top, bottom):
        out[row, cols[on[cols]]] = OUTLINE_GREY
    for col in (left, right):
        out[rows[on[rows]], col] = OUTLINE_GREY
    return out


def map_to_cutout(values: np.ndarray, prep: Preprocessing, cutout: Cutout) -> np.ndarray:
    """(H, W) float32: the map resized onto the crop box of the cutout, zero outside it, in
    the orientation `render_rgb` draws the cutout."""
    height, width = cutout.height, cutout.width
    left, top, box_side = crop_box(prep, height, width)
    resized = np.asarray(
        Image.fromarray(values.astype(np.float32), mode="F").resize((box_side, box_side), Image.Resampling.BILINEAR)
    )
    full = np.zeros((height, width), np.float32)
    rows = slice(max(top, 0), min(top + box_side, height))
    cols = slice(max(left, 0), min(left + box_side, width))
    full[rows, cols] = resized[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
    # Display mode crops the rendered (already flipped) image; bands mode crops the data rows.
    if prep.channels == "bands" and origin_lower(cutout):
        full = full[::-1]
    return np.ascontiguousarray(full)


def explain_cutout(
    model: nn.Module, prep: Preprocessing, cutout: Cutout, target: int, method: str, *, seed: int = 0
) -> np.ndarray:
    """The importance map of class `target` for `cutout`, at the cutout's resolution."""
    values = attribution_map(model, prepare_cutout(cutout, prep), target, method, sky=empty_sky_input(prep), seed=seed)
    return map_to_cutout(values, prep, cutout)


def colour_map_table(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of a matplotlib colour map."""
    from matplotlib import colormaps

    if name not in COLOUR_MAPS:
        raise ModelError(f"unknown colour map {name!r}; choose from {', '.join(COLOUR_MAPS)}")
    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


def overlay_rgb(
    rgb: np.ndarray,
    values: np.ndarray,
    *,
    opacity: float = 0.5,
    colour_map: str = "inferno",
    table: np.ndarray | None = None,
) -> np.ndarray:
    """The map (scaled to its 99.5th percentile, so one hot pixel does not wash out the rest)
    blended over the display image; where the map is zero the image shows through unchanged.
    `table` (from `colour_map_table`) replaces `colour_map` for callers that keep tables."""
    if rgb.shape[:2] != values.shape:
        raise ModelError(f"the map is {values.shape[1]}x{values.shape[0]} but the image {rgb.shape[1]}x{rgb.shape[0]}")
    top = float(np.percentile(values, 99.5)) if values.size else 0.0
    unit = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    lut = colour_map_table(colour_map) if table is None else table
    colours = lut[(unit * 255.0).astype(np.uint8)].astype(np.float32)
    alpha = (float(np.clip(opacity, 0.0, 1.0)) * unit)[..., None]
    blended = rgb.astype(np.float32) * (1.0 - alpha) + colours * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
