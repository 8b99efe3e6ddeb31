"""`python -m tools.local_run`: the old entry point, kept for scripts that call it; `sparkstack run` is the same."""

import sys

from tools.dev.local_run import main

if __name__ == "__main__":
    sys.exit(main())
