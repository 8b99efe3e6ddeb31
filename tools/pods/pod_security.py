"""Would Pod Security admission, at level "restricted", admit this pod? (Kubernetes 1.33 rules.)

Written from the Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards, policy version
v1.33): restricted is baseline plus the restricted controls. PyPI has no maintained implementation (the one
candidate, k8s-policy-guard, is a single 1.0.0 release of a general auditor); Kubernetes' own is Go
(k8s.io/pod-security-admission). Pod-level settings count for every container that does not override them, and
init and ephemeral containers are checked like the others. Returns violations as text; an empty list means admitted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Baseline "Capabilities": what containers may add.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
# Baseline "Sysctls": the safe set as of v1.33 (the last five were added in v1.27 and v1.29).
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
# Baseline "SELinux": allowed types (container_engine_t since v1.31); user and role must be unset.
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# Restricted "Volume Types".
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            yield f"{key}[{container.get('name', '?')}]", container


def _baseline(pod: Mapping[str, Any]) -> Iterator[str]:
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    pod_ctx = spec.get("securityContext") or {}
    if (pod_ctx.get("windowsOptions") or {}).get("hostProcess"):
        yield "HostProcess: spec.securityContext.windowsOptions.hostProcess must be unset or false"
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"Host Namespaces: spec.{field} must be unset or false"
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield f"HostPath Volumes: volume {volume.get('name')!r} is a hostPath"
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"Sysctls: {sysctl.get('name')!r} is not in the safe set"
    contexts = [("spec.securityContext", pod_ctx)]
    for where, container in _containers(spec):
        ctx = container.get("securityContext") or {}
        contexts.append((f"{where}.securityContext", ctx))
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            yield f"HostProcess: {where} sets windowsOptions.hostProcess"
        if ctx.get("privileged"):
            yield f"Privileged Containers: {where} is privileged"
        added = set((ctx.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            yield f"Capabilities: {where} adds {sorted(added)}, beyond the baseline set"
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                yield f"Host Ports: {where} uses hostPort {port['hostPort']}"
        if ctx.get("procMount") not in (None, "Default"):
            yield f"/proc Mount Type: {where} sets procMount {ctx['procMount']!r}"
    for where, ctx in contexts:
        if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
            yield f"Seccomp: {where}.seccompProfile.type is Unconfined"
        if (ctx.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            yield f"AppArmor: {where}.appArmorProfile.type is {ctx['appArmorProfile']['type']!r}"
        selinux = ctx.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES:
            yield f"SELinux: {where}.seLinuxOptions.type {selinux['type']!r} is not allowed"
        if selinux.get("user") or selinux.get("role"):
            yield f"SELinux: {where}.seLinuxOptions must not set user or role"
    for key, value in (meta.get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and value != "runtime/default" and not value.startswith("localhost/"):
            yield f"AppArmor: annotation {key} is {value!r}"


def _restricted(pod: Mapping[str, Any]) -> Iterator[str]:
    spec = pod.get("spec") or {}
    pod_ctx = spec.get("securityContext") or {}
    windows = (spec.get("os") or {}).get("name") == "windows"
    for volume in spec.get("volumes") or []:
        kinds = [k for k in volume if k != "name"]
        if not set(kinds) <= RESTRICTED_VOLUMES:
            yield f"Volume Types: volume {volume.get('name')!r} ({', '.join(kinds)}) is not an allowed type"
    if pod_ctx.get("runAsUser") == 0:
        yield "Running as Non-root user: spec.securityContext.runAsUser is 0"
    if pod_ctx.get("runAsNonRoot") is False:
        yield "Running as Non-root: spec.securityContext.runAsNonRoot is false"
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    for where, container in _containers(spec):
        ctx = container.get("securityContext") or {}
        if not windows and ctx.get("allowPrivilegeEscalation") is not False:
            yield f"Privilege Escalation: {where}.securityContext.allowPrivilegeEscalation must be false"
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if non_root is not True or ctx.get("runAsNonRoot") is False:
            yield f"Running as Non-root: {where} must run with runAsNonRoot: true (container or pod)"
        if ctx.get("runAsUser") == 0:
            yield f"Running as Non-root user: {where}.securityContext.runAsUser is 0"
        seccomp = (ctx.get("seccompProfile") or {}).get("type", pod_seccomp)
        if not windows and seccomp not in ("RuntimeDefault", "Localhost"):
            yield f"Seccomp: {where} needs seccompProfile RuntimeDefault or Localhost (container or pod), has {seccomp}"
        if not windows:
            capabilities = ctx.get("capabilities") or {}
            if "ALL" not in (capabilities.get("drop") or []):
                yield f"Capabilities: {where} must drop ALL"
            extra = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
            if extra:
                yield f"Capabilities: {where} may add only NET_BIND_SERVICE, adds {sorted(extra)}"


def restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    """Every reason Pod Security "restricted" (v1.33) would reject `pod`; [] when it would admit it."""
    return list(_baseline(pod)) + list(_restricted(pod))
