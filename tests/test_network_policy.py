"""The job namespace's network isolation, judged by what the NetworkPolicies registered for the dev stack admit.

The evaluator below follows the NetworkPolicy rules as the Kubernetes API documents them (a pod selected by an
Ingress policy is isolated; then only peers some rule names may connect; a peer with only `podSelector` means the
policy's own namespace), written for the test and not taken from the program, so an allow-all rule, a selector
that isolates nothing or a peer that opens other namespaces all fail it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.scopes import recorded
from tools.plan.mock_engine import Recording, run_program, stack_config

JOB_NAMESPACE = "spark-jobs"


@dataclass(frozen=True)
class Source:
    namespace: str | None  # None: outside the cluster
    labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    ip: str = "10.244.0.9"


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values) \
                or (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


def peer_admits(peer: dict[str, Any], policy_namespace: str, source: Source) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(source.ip)
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])
    if source.namespace is None:
        return False  # pod and namespace selectors name pods only
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], source.namespace_labels)
    else:
        in_namespace = source.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector", {}), source.labels)


def ingress_allowed(policies: list[dict[str, Any]], namespace: str, target: dict[str, str], source: Source) -> bool:
    isolating = [p for p in policies if p["metadata"]["namespace"] == namespace
                 and selects(p["spec"]["podSelector"], target)
                 and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])]
    if not isolating:
        return True
    for policy in isolating:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            if not peers or any(peer_admits(peer, namespace, source) for peer in peers):
                return True
    return False


@pytest.fixture(scope=recorded)
def policies() -> list[dict[str, Any]]:
    recording: Recording = run_program(stack_config("dev"))
    return [r.plain_inputs for r in recording.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]


DRIVER = {"spark-role": "driver", "sparkoperator.k8s.io/app-name": "sales-etl"}
EXECUTOR = {"spark-role": "executor", "sparkoperator.k8s.io/app-name": "sales-etl"}


@pytest.mark.parametrize(("source", "allowed"), [
    (Source(JOB_NAMESPACE, EXECUTOR, {"kubernetes.io/metadata.name": JOB_NAMESPACE}), True),
    (Source(JOB_NAMESPACE, {"app": "anything"}, {"kubernetes.io/metadata.name": JOB_NAMESPACE}), True),
    (Source("spark-operator", {"app.kubernetes.io/name": "spark-operator"},
            {"kubernetes.io/metadata.name": "spark-operator"}), False),
    (Source("default", EXECUTOR, {"kubernetes.io/metadata.name": "default"}), False),
    (Source(None, ip="203.0.113.7"), False),
    (Source(None, ip="10.0.0.5"), False),
], ids=["executor of the job namespace", "any pod of the job namespace", "the operator", "a look-alike elsewhere",
        "the internet", "a private address outside the cluster"])
def test_only_the_job_namespace_reaches_its_drivers(policies: list[dict[str, Any]], source: Source,
                                                     allowed: bool) -> None:
    assert policies, "the dev stack registers no NetworkPolicy"
    assert ingress_allowed(policies, JOB_NAMESPACE, DRIVER, source) is allowed
    assert ingress_allowed(policies, JOB_NAMESPACE, EXECUTOR, source) is allowed


def test_the_evaluator_tells_open_from_closed() -> None:
    """The judge itself: an allow-all rule admits the internet, a policy that selects nothing isolates nothing."""
    outside = Source(None, ip="203.0.113.7")
    base = {"metadata": {"namespace": JOB_NAMESPACE}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert ingress_allowed([{**base, "spec": {**base["spec"], "ingress": [{}]}}], JOB_NAMESPACE, DRIVER, outside)
    assert not ingress_allowed([{**base, "spec": {**base["spec"], "ingress": []}}], JOB_NAMESPACE, DRIVER, outside)
    unselected = {**base, "spec": {**base["spec"], "podSelector": {"matchLabels": {"none": "x"}}}}
    assert ingress_allowed([unselected], JOB_NAMESPACE, DRIVER, outside)
