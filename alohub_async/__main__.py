"""Run the ``alohub-async`` command as ``python -m alohub_async``."""

from __future__ import annotations

import sys

from alohub_async.cli import main

if __name__ == "__main__":
    sys.exit(main())
