"""The Spark platform as one component: namespaces, operator, identities, storage, scripts, pre-pull, sample data,
and what makes runs visible afterwards (History Server, metrics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from infra.config import GeneratorConfig, PlatformConfig, SparkConfig, TeamConfig
from infra.platform.event_logs import events_claim
from infra.platform.generator import data_generation, data_generator_job
from infra.platform.namespaces import namespace, spark_namespace_level
from infra.platform.network import prometheus_scrape, same_namespace_only
from infra.platform.observability import driver_pod_monitor, event_log_conf, history_server, metrics_conf
from infra.platform.operator import operator_release
from infra.platform.prepull import image_prepull
from infra.platform.rbac import spark_identities
from infra.platform.scripts import config_map_name, scripts_config_map
from infra.platform.storage import data_claim
from infra.platform.teams import TeamPlatform, priority_classes, team_platform
from infra.platform.yunikorn import yunikorn_release
from infra.secrets import credentials_env, credentials_secret


@dataclass(frozen=True)
class PlatformArgs:
    config: PlatformConfig
    spark: SparkConfig
    generator: GeneratorConfig
    scripts: dict[str, str]  # jobs/*.py by file name, shipped as one ConfigMap
    # Object-store keys (a Pulumi secret) for clusters without workload identity; None: no Secret.
    object_store_credentials: pulumi.Output[dict] | None = None
    teams: Mapping[str, TeamConfig] = field(default_factory=dict)
    # Create the platform's PriorityClasses (a team or an application uses one).
    priority_classes: bool = False
    # Built application images (sparkstack:images) by name: their references, and what must exist before a pod
    # can pull them. Pushed images are pre-pulled like the Spark image; the History Server may run one.
    built_images: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    built_ready: Sequence[pulumi.Resource] = ()
    prepull_built: bool = False
    # Every job namespace writes its event logs to one folder on the nodes (infra/platform/event_logs.py).
    shared_event_logs: bool = False


class Platform(pulumi.ComponentResource):
    """Everything Spark applications need before the first one can be admitted.

    `ready` lists what every application depends on; `image_ready` what pods of the Spark image wait for (the
    pre-pull, so a 1 GB pull does not race a Job deadline or Spark's executor allocation); `data_ready` the sample
    data Job, which applications run on `pulumi up` wait for.
    """

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sparkstack:platform:Platform", name, None, opts)
        cfg = args.config
        if cfg.storage.scratch_host_path:
            pulumi.log.warn("platform.storage.scratchHostPath is set: the job namespace and each team's namespace "
                            "now enforce the 'privileged' Pod Security level, because hostPath volumes break the "
                            "baseline profile.")
        job_namespace = namespace("job-namespace", cfg.namespace, spark_namespace_level(cfg), self)
        self.operator_namespace = namespace("operator-namespace", cfg.operator.namespace, "restricted", self)
        ns = job_namespace.metadata["name"]
        self.namespace: pulumi.Output[str] = ns
        same_namespace_only(ns, self)
        prometheus_scrape(ns, cfg.metrics, self)
        identities = spark_identities(ns, self, annotations=cfg.service_account_annotations)
        claim = data_claim(cfg.storage, ns, self)
        self.scripts_name = config_map_name(args.scripts)
        scripts_map = scripts_config_map(ns, args.scripts, self)
        prepull = image_prepull(args.spark.image, ns, self) if cfg.pre_pull else None
        # Each team's namespace and objects (infra/platform/teams.py); the operator watches exactly these and ours.
        self.teams: dict[str, TeamPlatform] = {
            name: team_platform(name, team, cfg, args.scripts, args.object_store_credentials, self,
                                args.shared_event_logs)
            for name, team in args.teams.items()}
        team_namespaces = [t.namespace_resource for t in self.teams.values()]
        scheduler: list[pulumi.Resource] = []
        if cfg.yunikorn.enabled:
            yunikorn_namespace = namespace("yunikorn-namespace", cfg.yunikorn.namespace, "baseline", self)
            scheduler.append(yunikorn_release(cfg.yunikorn, args.teams, yunikorn_namespace, self))
        if args.priority_classes:
            scheduler.extend(priority_classes(self))
        operator = operator_release(cfg.operator, cfg.metrics, self.operator_namespace, job_namespace, self,
                                    team_namespaces, cfg.yunikorn.enabled)
        for team in self.teams.values():
            team.ready.extend([operator, *scheduler])
        self.image_ready: list[pulumi.Resource] = [prepull] if prepull else []
        if cfg.pre_pull and args.prepull_built:
            self.image_ready += [image_prepull(ref, ns, self, f"{name}-image-prepull", list(args.built_ready))
                                 for name, ref in args.built_images.items()]
        self.ready: list[pulumi.Resource] = [operator, identities.binding, claim, scripts_map, *scheduler]
        # What every application gets from the platform: settings, credentials, and where its driver writes its
        # event log: the data volume, or its namespace's claim on the shared folder.
        self.spark_conf = {**event_log_conf(cfg.history), **metrics_conf(cfg.metrics)}
        events = events_claim(ns, self) if args.shared_event_logs else None
        if events is not None:
            self.ready.append(events)
        self.event_logs_on_data_volume = cfg.history.enabled and cfg.history.on_data_volume and events is None
        self.event_log_mount = cfg.history.log_directory if events is not None else None
        self.credentials_env: list[dict] = []
        if args.object_store_credentials is not None:
            self.ready.append(credentials_secret(args.object_store_credentials, ns, self))
            self.credentials_env = credentials_env()
        if cfg.history.enabled:
            # Applications wait for it: on the data volume its init container creates the log folder they write to.
            history_image = args.built_images[cfg.history.image] if cfg.history.image else args.spark.image
            server, _service = history_server(
                cfg.history, history_image, ns,
                depends_on=[claim, *self.image_ready, identities.executor, *args.built_ready,
                            *([events] if events is not None else [])],
                parent=self, object_store_conf=cfg.object_store.spark_conf(), shared_folder=events is not None)
            self.ready.append(server)
        if cfg.metrics.pod_monitor:
            # One monitor for the drivers of every job namespace (a PodMonitor selects in its own namespace
            # unless told otherwise).
            driver_pod_monitor(ns, cfg.metrics, self, [t.namespace for t in self.teams.values()])
        self.data_ready: list[pulumi.Resource] = []
        self.data_generation: str | None = None
        if args.generator.enabled:
            self.data_generation = data_generation(args.generator, self.scripts_name)
            self.data_ready.append(data_generator_job(
                args.generator, args.spark.image, self.scripts_name, ns,
                depends_on=[claim, scripts_map, *self.image_ready], parent=self,
            ))
        self.register_outputs({"namespace": ns, "operator": operator.status})
