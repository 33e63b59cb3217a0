"""``python -m relukit``: the command line of :mod:`relukit.cli`."""

import sys

from relukit.cli import main

sys.exit(main())
