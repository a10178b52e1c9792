"""Retake docs/screenshot-train-weights.png: the Train tab's advanced settings with a weights
file chosen for resnet18, checked against the network as the user sees it.

Run: QT_QPA_PLATFORM=offscreen python docs/train_weights_screenshot.py DATA
The file is a state dict of an untrained torchvision ResNet-18 saved to a temporary folder
under the name of ImageNet's (what the check reads is the same; nothing is downloaded).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from screenshot_waits import open_train_tab, settle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    args = parser.parse_args()
    import torch
    import torchvision

    weights = Path(tempfile.mkdtemp()) / "resnet18-f37072fd.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    app, window, panel = open_train_tab(args.data, size=64, epochs=30)
    panel.form.arch.setCurrentText("resnet18")
    panel.form.advanced.setChecked(True)
    panel.form.weights.set_path(str(weights))
    settle(app)
    saved = window.grab().save(str(Path(__file__).parent / "screenshot-train-weights.png"))
    print(panel.form.weights.report.text(), file=sys.stderr)
    window.close()
    return 0 if saved else 1


if __name__ == "__main__":
    sys.exit(main())
