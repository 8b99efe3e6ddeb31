"""`python -m tools.plan`: the old entry point, kept for scripts that call it; `sparkstack plan` is the same."""

import sys

from tools.plan.render import main

sys.exit(main())
