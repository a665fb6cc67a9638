"""`python -m emotion_core ...` runs the CLI."""

import sys

from emotion_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
