"""``python -m sim``: the same as the ``pinsim`` console script."""

import sys

from sim.cli import main

sys.exit(main())
