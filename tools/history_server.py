"""`python -m tools.history_server`: the old entry point, kept for scripts that call it;
`sparkstack history` is the same."""

import sys

from tools.doctor.history_server import main

if __name__ == "__main__":
    sys.exit(main())
