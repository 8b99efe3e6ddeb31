"""The Spark Operator v2.5.2 reference data (CRDs, chart values, examples) that conformance tests check against.

It lives outside the repository (`../shared/reference/`, which CI provides). Where it is absent a test that needs
it skips with a reason naming what is not checked and how to provide it; under CI (`CI=true`) that is a failure,
so a missing folder cannot turn the conformance checks green.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPERATOR_REFERENCE = Path(
    os.environ.get("SPARK_OPERATOR_REFERENCE", ROOT.parent / "shared" / "reference" / "spark-operator-v2.5.2")
)


def reference(relative: str, what: str) -> Path:
    """The reference file or folder `relative` (below the operator's folder), or skip/fail saying `what` is lost."""
    path = OPERATOR_REFERENCE / relative
    if path.exists():
        return path
    reason = (f"{what} not checked: the Spark Operator v2.5.2 reference is not at {path}; place the shared/ "
              "folder beside the repository (CI has it) or set SPARK_OPERATOR_REFERENCE to its "
              "spark-operator-v2.5.2 folder")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
