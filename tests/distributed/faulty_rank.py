"""`galaxy-studio` with a fault planted in rank 1, for the tests of a buffer under torchrun.

torchrun runs this file in place of `-m galaxy_studio`; GALAXY_STUDIO_TEST_FAULT names the
fault, which rank 1 installs by replacing a function of the buffer's module before the
command runs. The product code knows nothing of it.

- `die-after-one-expert`: rank 1 finishes its first expert, then dies as a killed node does
  (no cleanup, no message) while writing its second, leaving that write's temporary file.
- `other-data`: rank 1 reads images that differ from rank 0's by one pixel, as a node with
  its own, different copy of the data would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def die_after_one_expert() -> None:
    from galaxy_studio.atomic_files import partial_path
    from galaxy_studio.distill import experts

    train_expert = experts._train_expert
    started: list[int] = []

    def dying(index: int, config: Any, *args: Any, **kwargs: Any) -> Any:
        if started:
            partial_path(Path(config.out_dir) / experts.expert_file(index)).write_bytes(b"half an expert")
            os._exit(1)
        started.append(index)
        return train_expert(index, config, *args, **kwargs)

    experts._train_expert = dying


def see_other_data() -> None:
    from galaxy_studio.distill import experts

    load_real_data = experts.load_real_data

    def other(*args: Any, **kwargs: Any) -> Any:
        real = load_real_data(*args, **kwargs)
        real.train_images.flat[0] += 1.0
        return real

    experts.load_real_data = other


FAULTS = {"die-after-one-expert": die_after_one_expert, "other-data": see_other_data}

if __name__ == "__main__":
    if os.environ.get("RANK") == "1":
        FAULTS[os.environ["GALAXY_STUDIO_TEST_FAULT"]]()
    from galaxy_studio.cli import main

    sys.exit(main())
