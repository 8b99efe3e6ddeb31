"""Fixture scopes that depend on how the suite runs."""

from __future__ import annotations

import os

import pytest


def recorded(fixture_name: str, config: pytest.Config) -> str:
    """Scope of fixtures that run the Pulumi program: once per run normally; once per test under mutation testing
    (tools/dev/mutation.py sets SPARKSTACK_MUTATION), because mutmut ties a test to the product code that runs
    during that test, and a cached recording would tie every later test to none."""
    return "function" if os.environ.get("SPARKSTACK_MUTATION") else "session"
