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


# The Spark driver container's ports as Spark 4.0.4's BasicDriverFeatureStep names them (name, number, TCP).
DRIVER_PORTS = {"spark-ui": 4040, "driver-rpc-port": 7078, "blockmanager": 7079}


def port_admitted(rule: dict[str, Any], port: str) -> bool:
    """A rule without `ports` admits every port; otherwise one entry must name the port or its number (TCP)."""
    entries = rule.get("ports")
    if not entries:
        return True
    return any(e.get("protocol", "TCP") == "TCP" and e.get("port") in (port, DRIVER_PORTS[port]) for e in entries)


def ingress_allowed(policies: list[dict[str, Any]], namespace: str, target: dict[str, str], source: Source,
                    port: str = "spark-ui") -> bool:
    isolating = [p for p in policies if p["metadata"]["namespace"] == namespace
                 and selects(p["spec"]["podSelector"], target)
                 and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])]
    if not isolating:
        return True
    for policy in isolating:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            if (not peers or any(peer_admits(peer, namespace, source) for peer in peers)) and port_admitted(rule, port):
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


PROMETHEUS = Source("monitoring", {"app.kubernetes.io/name": "prometheus"},
                    {"kubernetes.io/metadata.name": "monitoring"})


def scrape_policies(metrics: dict[str, Any], stack: str = "dev") -> list[dict[str, Any]]:
    config = stack_config(stack)
    platform = config.setdefault("sparkstack:platform", {})
    platform["metrics"] = {**platform.get("metrics", {}), **metrics}
    recording = run_program(config, stack=stack)
    return [r.plain_inputs for r in recording.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]


def test_prometheus_reaches_the_drivers_ui_port_only() -> None:
    policies = scrape_policies({"prometheusNamespace": "monitoring"})
    assert ingress_allowed(policies, JOB_NAMESPACE, DRIVER, PROMETHEUS, "spark-ui")
    for port in ("driver-rpc-port", "blockmanager"):
        assert not ingress_allowed(policies, JOB_NAMESPACE, DRIVER, PROMETHEUS, port), port
    assert not ingress_allowed(policies, JOB_NAMESPACE, EXECUTOR, PROMETHEUS, "spark-ui")
    elsewhere = Source("default", PROMETHEUS.labels, {"kubernetes.io/metadata.name": "default"})
    assert not ingress_allowed(policies, JOB_NAMESPACE, DRIVER, elsewhere, "spark-ui")
    # The job namespace's own pods keep every port.
    inside = Source(JOB_NAMESPACE, EXECUTOR, {"kubernetes.io/metadata.name": JOB_NAMESPACE})
    assert ingress_allowed(policies, JOB_NAMESPACE, DRIVER, inside, "blockmanager")


def test_prometheus_pod_labels_narrow_the_peer_and_team_namespaces_admit_it_too() -> None:
    policies = scrape_policies({"prometheusNamespace": "monitoring",
                                "prometheusPodLabels": {"app.kubernetes.io/name": "prometheus"}}, stack="teams")
    other = Source("monitoring", {"app.kubernetes.io/name": "grafana"}, PROMETHEUS.namespace_labels)
    for namespace in (JOB_NAMESPACE, "analytics", "finance"):
        assert ingress_allowed(policies, namespace, DRIVER, PROMETHEUS), namespace
        assert not ingress_allowed(policies, namespace, DRIVER, other), namespace


def test_no_scrape_rule_without_a_prometheus_namespace(policies: list[dict[str, Any]]) -> None:
    assert not ingress_allowed(policies, JOB_NAMESPACE, DRIVER, PROMETHEUS)
    assert [p["metadata"]["name"] for p in policies] == ["same-namespace-only"]
