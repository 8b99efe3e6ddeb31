"""One namespace per team (`sparkstack:teams`), with everything a team's Spark applications need and no more.

Each team gets what the platform's own job namespace has (Pod Security restricted, enforced as baseline when
YuniKorn is on: infra/platform/yunikorn.py; the driver and executor service accounts with the least-privilege Role,
the same-namespace NetworkPolicy, the scripts ConfigMap, a data claim and, if configured, the object-store Secret)
plus what sharing needs: a ResourceQuota, a LimitRange whose defaults fit Spark pods, and a Role for the team's
admins over their own SparkApplications, pods and logs.
The fit of each application into these limits is checked at preview (infra/fit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import PlatformConfig, TeamConfig
from infra.conventions import PRIORITY_CLASSES, ROOT_QUEUE, object_meta
from infra.platform.event_logs import events_claim
from infra.platform.namespaces import namespace, spark_namespace_level
from infra.platform.network import prometheus_scrape, same_namespace_only
from infra.platform.rbac import spark_identities
from infra.platform.scripts import scripts_config_map
from infra.platform.storage import data_claim
from infra.secrets import credentials_secret

# What a team's admins may do in their namespace: run and manage SparkApplications, read what they produce.
ADMIN_RULES = [
    {"apiGroups": ["sparkoperator.k8s.io"], "resources": ["sparkapplications", "scheduledsparkapplications"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["sparkoperator.k8s.io"],
     "resources": ["sparkapplications/status", "scheduledsparkapplications/status"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods", "pods/log", "events", "services"], "verbs": ["get", "list", "watch"]},
]
ADMIN_ROLE = "spark-team-admin"
# Containers Spark does not size (none today; a sidecar added by a webhook, say) get these; Spark sets its own
# pods' requests and memory limit, so the defaults never touch a driver or executor.
CONTAINER_DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
CONTAINER_DEFAULT_LIMIT = {"memory": "512Mi"}


def queue_name(team: str) -> str:
    return f"{ROOT_QUEUE}.{team}"


def quota_hard(team: TeamConfig) -> dict[str, str]:
    """`requests.*` because Spark sets requests (and memory limit = request); limits.memory so no pod escapes."""
    q = team.quota
    return {"requests.cpu": q.cpu, "requests.memory": q.memory, "limits.memory": q.memory, "pods": str(q.pods)}


def limit_range_limits(team: TeamConfig) -> list[dict[str, Any]]:
    """No default CPU limit: a default below a driver's request would make Kubernetes refuse the pod."""
    return [{
        "type": "Container",
        "defaultRequest": CONTAINER_DEFAULT_REQUEST,
        "default": CONTAINER_DEFAULT_LIMIT,
        "max": {"memory": team.quota.memory},
    }]


def admin_subjects(team: TeamConfig) -> list[dict[str, str]]:
    return [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": a.removeprefix("group:")}
            for a in team.admins]


@dataclass(frozen=True)
class TeamPlatform:
    """What a team's applications run in and wait for."""

    namespace_resource: k8s.core.v1.Namespace
    namespace: pulumi.Output[str]
    ready: list[pulumi.Resource]


def team_platform(name: str, team: TeamConfig, cfg: PlatformConfig, scripts: dict[str, str],
                  credentials: pulumi.Output[dict] | None, parent: pulumi.Resource,
                  shared_event_logs: bool = False) -> TeamPlatform:
    prefix = f"team-{name}-"
    opts = pulumi.ResourceOptions(parent=parent)
    ns_resource = namespace(f"{prefix}namespace", name, spark_namespace_level(cfg), parent)
    ns = ns_resource.metadata["name"]
    quota = k8s.core.v1.ResourceQuota(
        f"{prefix}quota", metadata=object_meta("spark-team-quota", ns, "team-quota"),
        spec={"hard": quota_hard(team)}, opts=opts)
    limits = k8s.core.v1.LimitRange(
        f"{prefix}limits", metadata=object_meta("spark-team-limits", ns, "team-limits"),
        spec={"limits": limit_range_limits(team)}, opts=opts)
    same_namespace_only(ns, parent, prefix)
    prometheus_scrape(ns, cfg.metrics, parent, prefix)
    identities = spark_identities(ns, parent, prefix, cfg.service_account_annotations)
    ready: list[pulumi.Resource] = [quota, limits, identities.binding,
                                    scripts_config_map(ns, scripts, parent, prefix), data_claim(cfg.storage, ns,
                                                                                                parent, prefix)]
    if team.admins:
        role = k8s.rbac.v1.Role(f"{prefix}admin", metadata=object_meta(ADMIN_ROLE, ns, "team-admin"),
                                rules=ADMIN_RULES, opts=opts)
        k8s.rbac.v1.RoleBinding(
            f"{prefix}admin", metadata=object_meta(ADMIN_ROLE, ns, "team-admin"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata["name"]},
            subjects=admin_subjects(team), opts=opts)
    if credentials is not None:
        ready.append(credentials_secret(credentials, ns, parent, prefix))
    if shared_event_logs:
        ready.append(events_claim(ns, parent, prefix))
    return TeamPlatform(namespace_resource=ns_resource, namespace=ns, ready=ready)


def priority_classes(parent: pulumi.Resource) -> list[k8s.scheduling.v1.PriorityClass]:
    """The platform's PriorityClasses; the preemptible class never preempts others itself."""
    return [
        k8s.scheduling.v1.PriorityClass(
            f"priority-{name}", metadata=object_meta(name, None, "priority-class", name), value=value,
            global_default=False,
            preemption_policy="Never" if name == "batch-preemptible" else "PreemptLowerPriority",
            description=f"sparkstack: {name} Spark applications", opts=pulumi.ResourceOptions(parent=parent))
        for name, value in PRIORITY_CLASSES.items()
    ]
