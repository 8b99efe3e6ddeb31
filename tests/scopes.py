"""Fixture scopes and child environments that depend on how the suite runs (normally or under mutmut)."""

from __future__ import annotations

import os

import pytest


def recorded(fixture_name: str, config: pytest.Config) -> str:
    """Scope of fixtures that run the Pulumi program: once per run normally; once per test under mutation testing
    (tools/dev/mutation.py sets SPARKSTACK_MUTATION), because mutmut ties a test to the product code that runs
    during that test, and a cached recording would tie every later test to none."""
    return "function" if os.environ.get("SPARKSTACK_MUTATION") else "session"


def child_environment(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child Python process that runs product code outside the repository root (the policy pack runs
    in policy/). Under mutmut's stats pass (MUTANT_UNDER_TEST=stats) the child would inherit the mode, look for
    mutmut's config in its own working directory and crash; its calls could not be recorded anyway, since only the
    test process writes the stats. So the child runs the original code then; under a mutant it inherits that
    mutant, so a test through the child can still catch it."""
    if env.get("MUTANT_UNDER_TEST") == "stats":
        return {**env, "MUTANT_UNDER_TEST": ""}
    return env


def mutmut_stats_pass() -> bool:
    """Whether mutmut is recording which product functions each test runs (its stats pass, before any mutant)."""
    return os.environ.get("MUTANT_UNDER_TEST") == "stats"
