"""The whole stack, wired in dependency order: cluster -> platform -> scripts/data -> Spark applications.

Kept apart from `__main__.py` so tests (and the offline plan) drive exactly what `pulumi up` runs.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.cluster import Cluster, build_cluster
from infra.config import ClusterConfig, StackConfig
from infra.generator import data_generator_job
from infra.platform import Platform
from infra.rbac import DRIVER_SA, EXECUTOR_SA
from infra.scripts import (
    SCRIPTS_MOUNT,
    config_map_name,
    read_scripts,
    scripts_config_map,
    scripts_mount,
    scripts_volume,
)
from infra.secrets import Secrets, credentials_env, credentials_secret
from infra.spark_app import ScheduledSparkApplication, SparkApplication
from infra.spark_spec import ScheduledSparkApplicationSpec, SparkApplicationSpec, pyspark_application_spec
from infra.storage import DATA_CLAIM, DATA_MOUNT, SCRATCH_MOUNT, SCRATCH_VOLUME, data_volume, scratch_volume


def etl_spec(cfg: StackConfig, scripts_name: str, with_credentials: bool = False) -> SparkApplicationSpec:
    etl = cfg.jobs.sales_etl
    return pyspark_application_spec(
        image=cfg.spark.image,
        spark_version=cfg.spark.version,
        main_file=f"local://{SCRIPTS_MOUNT}/sales_etl.py",
        arguments=["--input", etl.input, "--output", etl.output, "--max-reject-ratio", str(etl.max_reject_ratio)],
        driver=etl.driver,
        executor=etl.executor,
        dynamic_allocation=etl.dynamic_allocation,
        driver_service_account=DRIVER_SA,
        executor_service_account=EXECUTOR_SA,
        volumes=[scripts_volume(scripts_name), data_volume(), scratch_volume(cfg.platform.storage)],
        volume_mounts=[
            scripts_mount(),
            {"name": "data", "mountPath": DATA_MOUNT},
            {"name": SCRATCH_VOLUME, "mountPath": SCRATCH_MOUNT},
        ],
        scratch_mount_path=SCRATCH_MOUNT,
        env=credentials_env() if with_credentials else (),
        time_to_live_seconds=etl.time_to_live_seconds,
    )


def commands(cluster_cfg: ClusterConfig, namespace: str, app: str) -> dict[str, str]:
    """Copy-paste commands for the things users do right after `pulumi up`."""
    kube = "KUBECONFIG=<(pulumi stack output kubeconfig --show-secrets) " if cluster_cfg.kind == "kind" else ""
    return {
        "spark_ui": f"{kube}kubectl -n {namespace} port-forward svc/{app}-ui-svc 4040:4040",
        "driver_log": f"{kube}kubectl -n {namespace} logs -f {app}-driver",
        "status": f"{kube}kubectl -n {namespace} get sparkapplications,scheduledsparkapplications",
    }


def build_stack(cfg: StackConfig, secrets: Secrets) -> dict[str, Any]:
    """Register every resource and return the stack outputs."""
    scripts = read_scripts()
    for needed in ("sales_etl.py", "generate_data.py"):
        if needed not in scripts:
            raise FileNotFoundError(f"jobs/{needed} is missing; the stack ships it to the cluster")
    cluster: Cluster = build_cluster(cfg.cluster, secrets.kubeconfig)
    provider = cluster.provider
    platform = Platform("platform", cfg.platform, cfg.spark, provider)
    namespace = platform.job_namespace.metadata["name"]

    scripts_name = config_map_name(scripts)
    scripts_cm = scripts_config_map(namespace, provider, scripts=scripts)
    spark_ready: list[pulumi.Resource] = [
        platform.operator, platform.identities.binding, platform.data, scripts_cm,
    ]

    if secrets.object_store_credentials is not None:
        spark_ready.append(credentials_secret(secrets.object_store_credentials, namespace, provider))

    etl_deps = list(spark_ready)
    if cfg.jobs.generator.enabled:
        etl_deps.append(data_generator_job(
            cfg.jobs.generator, cfg.spark.image, cfg.jobs.sales_etl.input, scripts_name,
            namespace, provider, depends_on=[platform.data, scripts_cm],
        ))

    etl_cfg = cfg.jobs.sales_etl
    spec = etl_spec(cfg, scripts_name, with_credentials=secrets.object_store_credentials is not None)
    SparkApplication(
        etl_cfg.name,
        namespace=namespace,
        spec=spec,
        wait_for_completion=etl_cfg.wait_for_completion,
        timeout_seconds=etl_cfg.timeout_seconds,
        opts=pulumi.ResourceOptions(provider=provider, depends_on=etl_deps),
    )
    app_names = [etl_cfg.name]

    nightly_cfg = cfg.jobs.nightly
    if nightly_cfg.enabled:
        ScheduledSparkApplication(
            nightly_cfg.name,
            namespace=namespace,
            spec=ScheduledSparkApplicationSpec(
                schedule=nightly_cfg.schedule,
                time_zone=nightly_cfg.time_zone,
                concurrency_policy=nightly_cfg.concurrency_policy,
                successful_run_history_limit=nightly_cfg.successful_run_history_limit,
                failed_run_history_limit=nightly_cfg.failed_run_history_limit,
                suspend=nightly_cfg.suspend,
                template=spec,
            ),
            opts=pulumi.ResourceOptions(provider=provider, depends_on=spark_ready),
        )
        app_names.append(nightly_cfg.name)

    return {
        "kubeconfig": cluster.kubeconfig,
        "namespace": namespace,
        "operator_namespace": platform.operator_namespace.metadata["name"],
        "applications": app_names,
        "commands": commands(cfg.cluster, cfg.platform.namespace, etl_cfg.name),
        "parquet_output": parquet_location(cfg),
    }


def parquet_location(cfg: StackConfig) -> str:
    output = cfg.jobs.sales_etl.output
    tables = "{city_revenue,monthly_categories,cross_tab}"
    if output.startswith("s3a://"):
        return f"{output.rstrip('/')}/{tables}"
    return f"{output}/{tables} on PVC {DATA_CLAIM} (namespace {cfg.platform.namespace})"
