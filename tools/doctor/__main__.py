"""`python -m tools.doctor`: the old entry point, kept for scripts that call it; `sparkstack doctor` is the same."""

import sys

from tools.doctor.diagnosis import main

sys.exit(main())
