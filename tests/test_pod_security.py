"""tools/pods/pod_security.py against hand-written pods: a compliant one passes, each violation is caught by
its rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tools.pods.pod_security import restricted_violations


def compliant() -> dict[str, Any]:
    """The smallest pod "restricted" admits, with the container settings in the container."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ok"},
        "spec": {
            "containers": [{
                "name": "main",
                "image": "busybox:1.36",
                "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
            }],
            "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
        },
    }


def test_compliant_pod_passes() -> None:
    assert restricted_violations(compliant()) == []


def test_pod_level_settings_count_for_containers_that_do_not_override_them() -> None:
    pod = compliant()
    context = pod["spec"]["containers"][0]["securityContext"]
    del context["runAsNonRoot"], context["seccompProfile"]
    assert len(restricted_violations(pod)) == 2
    pod["spec"]["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "Localhost",
                                                                               "localhostProfile": "p.json"}}
    assert restricted_violations(pod) == []
    context["runAsNonRoot"] = False  # a container may not opt out of the pod's setting
    assert any("Non-root" in v for v in restricted_violations(pod))


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def _ctx(pod: dict[str, Any]) -> dict[str, Any]:
    return _container(pod)["securityContext"]


VIOLATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "privilege escalation allowed": ("Privilege Escalation", lambda p: _ctx(p).update(allowPrivilegeEscalation=True)),
    "privilege escalation unset": ("Privilege Escalation", lambda p: _ctx(p).pop("allowPrivilegeEscalation")),
    "runAsNonRoot unset": ("Running as Non-root", lambda p: _ctx(p).pop("runAsNonRoot")),
    "runAsUser 0": ("Non-root user", lambda p: _ctx(p).update(runAsUser=0)),
    "pod runAsUser 0": ("Non-root user", lambda p: p["spec"].update(securityContext={"runAsUser": 0})),
    "seccomp unset": ("Seccomp", lambda p: _ctx(p).pop("seccompProfile")),
    "seccomp unconfined": ("Seccomp", lambda p: _ctx(p).update(seccompProfile={"type": "Unconfined"})),
    "capabilities not dropped": ("Capabilities", lambda p: _ctx(p).pop("capabilities")),
    "capability added": ("Capabilities", lambda p: _ctx(p).update(capabilities={"drop": ["ALL"], "add": ["CHOWN"]})),
    "capability beyond baseline": ("Capabilities", lambda p: _ctx(p)["capabilities"].update(add=["SYS_ADMIN"])),
    "privileged": ("Privileged", lambda p: _ctx(p).update(privileged=True)),
    "hostPath volume": ("HostPath", lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}})),
    "nfs volume": ("Volume Types", lambda p: p["spec"]["volumes"].append({"name": "n", "nfs": {"server": "s",
                                                                                                "path": "/"}})),
    "hostNetwork": ("Host Namespaces", lambda p: p["spec"].update(hostNetwork=True)),
    "hostPID": ("Host Namespaces", lambda p: p["spec"].update(hostPID=True)),
    "hostIPC": ("Host Namespaces", lambda p: p["spec"].update(hostIPC=True)),
    "hostPort": ("Host Ports", lambda p: _container(p).update(ports=[{"containerPort": 80, "hostPort": 80}])),
    "unsafe sysctl": ("Sysctls", lambda p: p["spec"].update(securityContext={"sysctls": [{"name": "kernel.msgmax",
                                                                                          "value": "1"}]})),
    "apparmor unconfined": ("AppArmor", lambda p: _ctx(p).update(appArmorProfile={"type": "Unconfined"})),
    "apparmor annotation": ("AppArmor", lambda p: p["metadata"].update(annotations={
        "container.apparmor.security.beta.kubernetes.io/main": "unconfined"})),
    "selinux custom type": ("SELinux", lambda p: _ctx(p).update(seLinuxOptions={"type": "spc_t"})),
    "selinux user": ("SELinux", lambda p: _ctx(p).update(seLinuxOptions={"user": "root"})),
    "proc mount": ("/proc Mount", lambda p: _ctx(p).update(procMount="Unmasked")),
    "host process": ("HostProcess", lambda p: _ctx(p).update(windowsOptions={"hostProcess": True})),
    "init container unhardened": ("Privilege Escalation", lambda p: p["spec"].update(
        initContainers=[{"name": "init", "image": "busybox:1.36", "securityContext": {
            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}])),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_each_violation_is_reported_by_its_rule(case: str) -> None:
    rule, change = VIOLATIONS[case]
    pod = copy.deepcopy(compliant())
    change(pod)
    violations = restricted_violations(pod)
    assert violations, f"{case}: not caught"
    assert any(rule in v for v in violations), f"{case}: {violations}"


def test_allowed_values_stay_allowed() -> None:
    pod = compliant()
    _ctx(pod)["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    _ctx(pod)["seLinuxOptions"] = {"type": "container_t", "level": "s0:c1,c2"}
    _ctx(pod)["appArmorProfile"] = {"type": "RuntimeDefault"}
    pod["spec"]["securityContext"] = {"sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]}
    pod["spec"]["volumes"] += [{"name": "claim", "persistentVolumeClaim": {"claimName": "x"}},
                               {"name": "proj", "projected": {"sources": []}}]
    assert restricted_violations(pod) == []
