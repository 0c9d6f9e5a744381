"""``python -m replaytest`` — the same as the ``replaytest`` command."""

import sys

from .cli import main

sys.exit(main())
