"""`python -m coveo_emulator`: the same as `coveo-push emulator`."""

import sys

from coveo_emulator.cli import main

sys.exit(main())
