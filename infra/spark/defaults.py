"""The platform's defaults for every Spark application: settings, retries and pod security.

An application's own `sparkConf` is applied on top of `default_spark_conf()`, so a team can change any of these
per application; the policy pack (policy/) flags the changes that the seed's guide calls mistakes.
"""

from __future__ import annotations

from infra.conventions import container_security_context, pod_security_context
from infra.spark.crd import PodSecurityContext, RestartPolicy, SecurityContext


def default_spark_conf() -> dict[str, str]:
    """Settings production PySpark jobs want and Spark 4 does not (all) default to.

    Memory overhead is not among them: Spark 4.0.4 already gives non-JVM (Python) applications 40 % of memory
    (at least 384 MiB) on Kubernetes (spark-kubernetes jar, BasicDriverFeatureStep/BasicExecutorFeatureStep with
    spark.kubernetes.memoryOverheadFactor's non-JVM default of 0.4), more than a fixed setting would.
    """
    return {
        # Adaptive query execution: right-size shuffle partitions and split skewed joins at run time.
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.adaptive.skewJoin.enabled": "true",
        # Faster, smaller serialisation of JVM objects (shuffled RDD records, broadcast data).
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
    }


# A run on `pulumi up` is not retried unless asked: the operator cannot tell a lost node from the job's own exit
# code (the sales ETL exits 1 on too many rejects, 2 on bad input), and retries of a deterministic failure only
# delay the FAILED that `pulumi up` reports (operator v2.5.2 waits interval x attempt between runs,
# pkg/util/sparkapplication.go). Scheduled runs keep a few retries for transient failures: nobody is waiting.
RUN_ON_UP_RETRIES = 0
SCHEDULED_RETRIES = 3


def default_restart_policy(retries: int) -> RestartPolicy:
    """Retry failed runs `retries` times and failed submissions (API hiccups) always; linear back-off per attempt."""
    return RestartPolicy(
        type="OnFailure",
        on_failure_retries=retries,
        on_failure_retry_interval=30,
        on_submission_failure_retries=5,
        on_submission_failure_retry_interval=20,
    )


def spark_security_context() -> SecurityContext:
    """The restricted profile from `infra/conventions.py`, with a writable root filesystem: Spark writes under
    /opt/spark/work-dir (its working directory: fetched files, PySpark zips) and /tmp."""
    return SecurityContext.model_validate(container_security_context(read_only_root=False))


def spark_pod_security_context() -> PodSecurityContext:
    """fsGroup (with OnRootMismatch, so an already-correct volume is not chowned on every start)."""
    context = pod_security_context()
    return PodSecurityContext.model_validate({k: context[k] for k in ("fsGroup", "fsGroupChangePolicy")})
