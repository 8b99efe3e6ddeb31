"""Import the job scripts and their library modules in jobs/ (a flat folder shipped as files, not a package).

The folder goes on ``sys.path`` first, as it does for ``python jobs/sales_etl.py`` and for spark-submit (Python
puts the script's own directory there), so a job's ``import sales_transforms`` finds its sibling.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def load_job(name: str) -> ModuleType:
    """Import jobs/<name>.py once per test run (a job or a library module)."""
    if str(JOBS) not in sys.path:
        sys.path.insert(0, str(JOBS))
    return importlib.import_module(name)
