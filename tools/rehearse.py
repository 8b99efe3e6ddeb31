"""`python -m tools.rehearse`: the old entry point, kept for scripts that call it; `sparkstack rehearse` is the same."""

import sys

from tools.plan.rehearse import main

if __name__ == "__main__":
    sys.exit(main())
