"""`python -m galaxy_studio`: freeze support first so frozen bundles can spawn workers."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from galaxy_studio.cli import launch

    raise SystemExit(launch())
