"""sparkstack's CrossGuard policy pack: the tuning chapter's Common Mistakes, checked at `pulumi preview`.

Run it with `pulumi preview --policy-pack policy` (any backend; see docs/policy.md). The Pulumi CLI starts this
file through `python -u -m pulumi.policy <engine address> <this directory>` with this directory as the working
directory (pulumi-language-python's RunPlugin), so `sparkstack_rules` next to it is importable; constructing the
`PolicyPack` starts the analyzer gRPC server and prints its port (pulumi_policy/policy.py, `PolicyPack.__init__`).
The rules table lives in `sparkstack_rules.py` (checks in `spec_rules.py` and `script_rules.py`), with no Pulumi
dependency, so tests can call them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError
from spark_submit_conf import UNKNOWN
from sparkstack_rules import RULES, Rule, applies_to, verdict
from team_rules import STACK_RULES, StackRule, stack_violations

LEVELS = {"advisory": EnforcementLevel.ADVISORY, "mandatory": EnforcementLevel.MANDATORY}
SEVERITIES = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH, "critical": Severity.CRITICAL}


class RuleNoteError(UnknownValueError):
    """What a rule could not decide or read. pulumi-policy reports an `UnknownValueError` raised by a validation as
    an advisory diagnostic of that policy (policy.py, `Analyze`), whatever the policy's level: the one way a
    validation can say "undecided" without failing the preview, and without hiding its other violations."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.message = message


def plain(value: Any) -> Any:
    """The resource's inputs without pulumi-policy's proxies: an unknown value becomes UNKNOWN, so a rule can tell
    which value it needs is unknown (touching one through the proxy raises and would stop every check)."""
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                result[key] = plain(value[key])
            except UnknownValueError:
                result[key] = UNKNOWN
        return result
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def _validate(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not applies_to(rule, args.resource_type):
            return
        # get_config() is what the CLI sent through the Configure RPC: the schema's defaults plus
        # --policy-pack-config (pkg/resource/analyzer/config.go, ReconcilePolicyPackConfig); verdict() fills the
        # same defaults when the pack runs unconfigured.
        config = args.get_config()
        found = verdict(rule, args.resource_type, plain(args.props), config)
        for message in found.violations:
            report_violation(message, None)
        if found.notes:
            raise RuleNoteError(" ".join(found.notes))

    return validate


def policy(rule: Rule) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=LEVELS[rule.enforcement],
        config_schema=PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config.items()})
        if rule.config else None,
        validate=_validate(rule),
        severity=SEVERITIES[rule.severity],
        remediation_steps=rule.remediation,
        url=rule.url,
    )


def stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [(r.resource_type, r.name, plain(r.props)) for r in args.resources]
        for name, message in stack_violations(rule, resources):
            report_violation(f"{name}: {message}", None)

    return StackValidationPolicy(name=rule.name, description=rule.description,
                                 enforcement_level=EnforcementLevel.ADVISORY, validate=validate,
                                 severity=Severity.LOW, remediation_steps=rule.remediation,
                                 url=f"docs/policy.md#{rule.name}")


PolicyPack(name="sparkstack", policies=[*(policy(rule) for rule in RULES), *(stack_policy(r) for r in STACK_RULES)])
