"""Object storage under the mock engine: the S3A settings every run carries (credentials chain with web identity
for IRSA, region, endpoint), the workload-identity annotations on the Spark accounts, and the History Server
reading event logs from s3a://.

The class names are the ones read from the jars (hadoop-client-api 3.4.1's core-default.xml, hadoop-aws 3.4.1 and
AWS SDK v2 2.24.6 with javap), written here by hand rather than taken from infra/config.py.
"""

from __future__ import annotations

import copy
from typing import Any

from tools.plan.mock_engine import Recording, run_program, stack_config

APP = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
DEV_APP = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
SA = "kubernetes:core/v1:ServiceAccount"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PROVIDERS = "spark.hadoop.fs.s3a.aws.credentials.provider"
# hadoop-aws 3.4.1's default chain has no web-identity provider; IRSA needs the SDK v2 one.
WEB_IDENTITY = "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider"
HADOOP_DEFAULT_CHAIN = [
    "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
    "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider",
    "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider",
]
ROLE = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/spark-data"}


def existing(**platform: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("existing"))
    config["sparkstack:platform"].update(platform)
    return config


def run_existing(**platform: Any) -> Recording:
    return run_program(existing(**platform), stack="existing")


def test_the_existing_stack_uses_irsa_and_its_region() -> None:
    rec = run_existing()
    conf = rec.one(APP).plain_inputs["spec"]["template"]["sparkConf"]
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"
    driver = next(r.plain_inputs for r in rec.of_type(SA) if r.plain_inputs["metadata"]["name"] == "spark-driver")
    assert driver["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_s3a_runs_get_a_chain_with_web_identity_before_the_instance_chain() -> None:
    config = existing()
    del config["sparkstack:platform"]["objectStore"]
    rec = run_program(config, stack="existing")
    conf = rec.one(APP).plain_inputs["spec"]["template"]["sparkConf"]
    chain = conf[PROVIDERS].split(",")
    assert WEB_IDENTITY in chain and WEB_IDENTITY not in HADOOP_DEFAULT_CHAIN
    # Hadoop's own providers keep their order; web identity comes before the instance/container chain.
    assert [c for c in chain if c != WEB_IDENTITY] == HADOOP_DEFAULT_CHAIN
    assert chain.index(WEB_IDENTITY) < chain.index("org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider")
    assert "spark.hadoop.fs.s3a.endpoint" not in conf and "spark.hadoop.fs.s3a.endpoint.region" not in conf


def test_region_endpoint_and_path_style_reach_every_run() -> None:
    rec = run_existing(objectStore={"region": "eu-west-1", "endpoint": "https://minio.storage:9000",
                                    "pathStyleAccess": True, "credentialsProviders": [WEB_IDENTITY]})
    conf = rec.one(APP).plain_inputs["spec"]["template"]["sparkConf"]
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "https://minio.storage:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf[PROVIDERS] == WEB_IDENTITY


def test_runs_without_object_storage_carry_no_s3a_settings() -> None:
    rec = run_program(stack_config("dev"))
    conf = rec.one(DEV_APP).plain_inputs["spec"]["sparkConf"]
    assert not [k for k in conf if k.startswith("spark.hadoop.fs.s3a.")]


def test_workload_identity_annotations_on_both_spark_accounts_in_every_namespace() -> None:
    config = copy.deepcopy(stack_config("teams"))
    config["sparkstack:platform"]["serviceAccountAnnotations"] = ROLE
    rec = run_program(config, stack="teams")
    accounts = [r.plain_inputs for r in rec.of_type(SA)
                if r.plain_inputs["metadata"]["name"] in ("spark-driver", "spark-executor")]
    assert {a["metadata"]["namespace"] for a in accounts} == {"spark-jobs", "analytics", "finance"}
    assert len(accounts) == 6
    for account in accounts:
        assert account["metadata"]["annotations"] == ROLE
    executors = [a for a in accounts if a["metadata"]["name"] == "spark-executor"]
    assert all(a["automountServiceAccountToken"] is False for a in executors)  # IRSA projects its own token
    plain = run_program(stack_config("dev"))
    assert all("annotations" not in r.plain_inputs["metadata"] for r in plain.of_type(SA))


def test_history_server_reads_s3a_logs_with_the_store_settings_and_the_identity() -> None:
    config = existing(history={"enabled": True, "logDirectory": "s3a://acme-data-lake/spark-events"},
                      objectStore={"region": "eu-west-1"}, storage={"accessMode": "ReadWriteMany"})
    config["sparkstack:spark"]["image"] = "registry.example.com/spark-s3a:4.0.4"
    rec = run_program(config, stack="existing")
    pod = rec.one(DEPLOYMENT, "spark-history-server").plain_inputs["spec"]["template"]["spec"]
    options = next(e["value"] for e in pod["containers"][0]["env"] if e["name"] == "SPARK_HISTORY_OPTS").split()
    assert "-Dspark.hadoop.fs.s3a.endpoint.region=eu-west-1" in options
    assert f"-D{PROVIDERS}=" + ",".join([*HADOOP_DEFAULT_CHAIN[:3], WEB_IDENTITY, HADOOP_DEFAULT_CHAIN[3]]) in options
    assert pod["serviceAccountName"] == "spark-executor" and pod["automountServiceAccountToken"] is False
    dev = run_program(stack_config("dev")).one(DEPLOYMENT, "spark-history-server").plain_inputs
    assert "serviceAccountName" not in dev["spec"]["template"]["spec"]
