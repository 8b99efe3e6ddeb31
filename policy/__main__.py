"""sparkstack's CrossGuard policy pack: the tuning chapter's Common Mistakes, checked at `pulumi preview`.

Run it with `pulumi preview --policy-pack policy` (any backend; see docs/policy.md). The Pulumi CLI starts this
file through `python -u -m pulumi.policy <engine address> <this directory>` with this directory as the working
directory (pulumi-language-python's RunPlugin), so `sparkstack_rules` next to it is importable; constructing the
`PolicyPack` starts the analyzer gRPC server and prints its port (pulumi_policy/policy.py, `PolicyPack.__init__`).
The rules table lives in `sparkstack_rules.py` (checks in `spec_rules.py` and `script_rules.py`), with no Pulumi
dependency, so tests can call them directly.
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from sparkstack_rules import RULES, Rule, applies_to, evaluate

LEVELS = {"advisory": EnforcementLevel.ADVISORY, "mandatory": EnforcementLevel.MANDATORY}


def _validate(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not applies_to(rule, args.resource_type):
            return
        # get_config() is what the CLI sent through the Configure RPC: the schema's defaults plus
        # --policy-pack-config (pkg/resource/analyzer/config.go, ReconcilePolicyPackConfig); evaluate() fills the
        # same defaults when the pack runs unconfigured.
        for message in evaluate(rule, args.resource_type, args.props, args.get_config()):
            report_violation(message, None)

    return validate


def policy(rule: Rule) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=LEVELS[rule.enforcement],
        config_schema=PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config.items()})
        if rule.config else None,
        validate=_validate(rule),
    )


PolicyPack(name="sparkstack", policies=[policy(rule) for rule in RULES])
