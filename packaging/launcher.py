"""The packaged desktop app's entry point (PyInstaller runs this file): see `app.desktop`."""

import multiprocessing
import sys

from app.desktop import main

if __name__ == "__main__":
    # A frozen app that (or whose libraries) starts worker processes must call this first.
    multiprocessing.freeze_support()
    sys.exit(main())
