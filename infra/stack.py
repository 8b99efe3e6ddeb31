"""The whole stack, wired in dependency order: Cluster -> Platform -> one Application per configured application.

Kept apart from `__main__.py` so tests (and the offline plan) drive exactly what `pulumi up` runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi

from infra.cluster.component import Cluster, ClusterArgs
from infra.cluster.kind import KindMount
from infra.config_loader import StackConfig, uses_object_store
from infra.conventions import DEFAULT_QUEUE
from infra.images.build import ApplicationImage, ImageArgs
from infra.platform.component import Platform, PlatformArgs
from infra.platform.event_logs import NODE_PATH, host_directory, prepare_host_directory, shares_event_logs
from infra.platform.observability import HISTORY_NAME, HISTORY_PORT
from infra.platform.scripts import read_scripts
from infra.platform.teams import queue_name
from infra.secrets import Secrets
from infra.spark.application import Application, ApplicationArgs
from infra.spark.builder import ApplicationEnvironment
from infra.spark.placement import Placement
from infra.spark.shuffle import platform_shuffle


def commands(cfg: StackConfig) -> dict[str, str]:
    """Copy-paste commands for the things users do right after `pulumi up`."""
    kube = "KUBECONFIG=<(pulumi stack output kubeconfig --show-secrets) " if cfg.cluster.kind == "kind" else ""
    ns = cfg.platform.namespace
    result = {"status": f"{kube}kubectl -n {ns} get sparkapplications,scheduledsparkapplications"}
    if cfg.platform.history.enabled:
        forward = f"port-forward svc/{HISTORY_NAME} {HISTORY_PORT}:{HISTORY_PORT}"
        result["history_server"] = f"{kube}kubectl -n {ns} {forward}  # then open http://localhost:{HISTORY_PORT}"
    for name, app in cfg.applications.items():
        ns = app.team or cfg.platform.namespace
        if app.run_on_up:
            result[f"{name}: spark_ui"] = f"{kube}kubectl -n {ns} port-forward svc/{name}-ui-svc 4040:4040"
            result[f"{name}: driver_log"] = f"{kube}kubectl -n {ns} logs -f {name}-driver"
        if app.schedule:
            result[f"{name}: scheduled_runs"] = (
                f"{kube}kubectl -n {ns} get sparkapplications -l sparkoperator.k8s.io/scheduled-app-name={name}")
    return result


def uses_priorities(cfg: StackConfig) -> bool:
    return bool(cfg.teams) or any(a.priority for a in cfg.applications.values())


def placement(cfg: StackConfig, team: str | None, priority: str | None) -> Placement:
    """The application's own priority, else its team's; its team's queue (root.default without a team)."""
    if priority is None and team is not None:
        priority = cfg.teams[team].priority
    queue = (queue_name(team) if team else DEFAULT_QUEUE) if cfg.platform.yunikorn.enabled else None
    return Placement(queue=queue, priority=priority)


def event_log_mounts(cluster_name: str) -> tuple[KindMount, ...]:
    """The folder every node shares for event logs; created (writable by the pods) on `up`, not on preview."""
    host = host_directory(cluster_name)
    if not pulumi.runtime.is_dry_run():
        prepare_host_directory(host)
    return (KindMount(host, NODE_PATH),)


def build_images(cfg: StackConfig, cluster: Cluster, secrets: Secrets) -> dict[str, ApplicationImage]:
    """Each configured application image, built from jobs/ (loaded into kind's nodes, or pushed)."""
    if not cfg.images:
        return {}
    jobs = {name: text.encode() for name, text in read_scripts().items()}
    kind_name = cluster.kind.name if cluster.kind is not None else None
    return {name: ApplicationImage(name, ImageArgs(image, jobs, kind_name, secrets.registry_credentials))
            for name, image in cfg.images.items()}


def build_stack(cfg: StackConfig, secrets: Secrets) -> dict[str, Any]:
    """Register every resource and return the stack outputs."""
    shared_logs = shares_event_logs(cfg.cluster, cfg.platform.history, cfg.applications)
    cluster = Cluster("cluster", ClusterArgs(cfg.cluster, secrets.kubeconfig, cfg.platform.storage.protect_data,
                                             event_log_mounts(cfg.cluster.name) if shared_logs else ()))
    on_cluster = pulumi.ResourceOptions(provider=cluster.provider)
    images = build_images(cfg, cluster, secrets)
    platform = Platform(
        "platform",
        PlatformArgs(cfg.platform, cfg.spark, cfg.generator, read_scripts(), secrets.object_store_credentials,
                     teams=cfg.teams, priority_classes=uses_priorities(cfg),
                     built_images={name: image.ref for name, image in images.items()},
                     built_ready=[r for image in images.values() for r in image.ready],
                     # Loaded into kind's nodes already; pushed images are pulled ahead like the Spark image.
                     prepull_built=cfg.cluster.kind == "existing", shared_event_logs=shared_logs),
        opts=on_cluster,
    )
    object_store = cfg.platform.object_store.spark_conf() if uses_object_store(cfg) else {}
    environment = ApplicationEnvironment(
        image=cfg.spark.image,
        spark_version=cfg.spark.version,
        scripts_config_map=platform.scripts_name,
        storage=cfg.platform.storage,
        env=platform.credentials_env,
        spark_conf={**platform.spark_conf, **object_store},
        data_generation=platform.data_generation,
        driver_needs_data=platform.event_logs_on_data_volume,
        event_log_mount=platform.event_log_mount,
        shuffle=platform_shuffle(cfg.cluster.kind, cfg.platform.shuffle),
        metrics=cfg.platform.metrics.enabled,
    )
    for name, app in cfg.applications.items():
        team = platform.teams[app.team] if app.team else None
        built = images[app.image] if app.image else None
        Application(
            name,
            ApplicationArgs(app, replace(environment, scripts_in_image=built is not None),
                            team.namespace if team else platform.namespace,
                            depends_on=[*(team.ready if team else platform.ready), *(built.ready if built else [])],
                            # The sample data is written to the platform's claim, not a team's.
                            run_depends_on=platform.image_ready if team else
                            [*platform.image_ready, *platform.data_ready],
                            placement=placement(cfg, app.team, app.priority),
                            image=built.ref if built else None),
            opts=on_cluster,
        )
    return {
        "kubeconfig": cluster.kubeconfig,
        "namespace": platform.namespace,
        "operator_namespace": platform.operator_namespace.metadata["name"],
        "applications": {
            name: {"script": app.script, "run_on_up": app.run_on_up,
                   "schedule": app.schedule.cron if app.schedule else None}
            for name, app in cfg.applications.items()
        },
        "commands": commands(cfg),
        **({"images": {name: image.ref for name, image in images.items()}} if images else {}),
    }
