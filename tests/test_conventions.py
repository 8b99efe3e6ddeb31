"""infra/conventions.py: the names, labels, security contexts, volumes and checkov annotations every module takes
from one place. Expected values are written out by hand (the Kubernetes recommended labels, the restricted Pod
Security profile, checkov's `checkov.io/skipN` format), so a drift in the one home shows up here."""

from __future__ import annotations

from infra import conventions as c

RESTRICTED_EXTRAS = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                     "seccompProfile": {"type": "RuntimeDefault"}}


def test_labels_name_component_and_the_stack() -> None:
    assert c.selector_labels("spark-history-server") == {"app.kubernetes.io/name": "spark-history-server"}
    assert c.labels("prepull") == {"app.kubernetes.io/name": "prepull", "app.kubernetes.io/component": "prepull",
                                   "app.kubernetes.io/part-of": "sparkstack",
                                   "app.kubernetes.io/managed-by": "pulumi"}
    assert c.labels("history-server", "spark-history-server")["app.kubernetes.io/name"] == "spark-history-server"
    assert c.application_labels("sales-etl", "driver") == {
        "app.kubernetes.io/name": "sales-etl", "app.kubernetes.io/component": "driver",
        "app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi",
        "sparkstack.io/application": "sales-etl"}


def test_object_meta_leaves_out_what_is_not_given() -> None:
    assert c.object_meta(None, None, "priority") == {"labels": c.labels("priority")}
    assert c.object_meta("x", "ns", "comp", "lbl", annotations={"a": "b"}) == {
        "name": "x", "namespace": "ns", "labels": c.labels("comp", "lbl"), "annotations": {"a": "b"}}
    assert c.object_meta("x", "ns", "comp", annotations={}) == {"name": "x", "namespace": "ns",
                                                                "labels": c.labels("comp")}
    assert c.object_meta("run", "ns", "spark", "ignored", application="sales-etl")["labels"] == \
        c.application_labels("sales-etl", "spark")


def test_security_contexts_are_the_restricted_profile_for_the_spark_user() -> None:
    assert c.SPARK_UID == 185  # the apache/spark images' user
    assert c.container_security_context() == {"runAsUser": 185, "runAsGroup": 185, "readOnlyRootFilesystem": True,
                                              **RESTRICTED_EXTRAS}
    assert c.container_security_context(read_only_root=False, uid=7) == {
        "runAsUser": 7, "runAsGroup": 7, "readOnlyRootFilesystem": False, **RESTRICTED_EXTRAS}
    assert c.pod_security_context() == {"runAsUser": 185, "runAsGroup": 185, "runAsNonRoot": True, "fsGroup": 185,
                                        "fsGroupChangePolicy": "OnRootMismatch",
                                        "seccompProfile": {"type": "RuntimeDefault"}}
    assert c.pod_security_context(65532)["fsGroup"] == 65532


def test_volumes_and_mounts() -> None:
    assert c.data_volume() == {"name": "data", "persistentVolumeClaim": {"claimName": "spark-data"}}
    assert c.data_mount() == {"name": "data", "mountPath": "/data"}
    assert c.events_volume() == {"name": "spark-events", "persistentVolumeClaim": {"claimName": "spark-events"}}
    assert c.events_mount("/var/log/spark") == {"name": "spark-events", "mountPath": "/var/log/spark"}
    # Read-only for everyone (0o444 = 292): the scripts are code, not data.
    assert c.scripts_volume("jobs-abc") == {"name": "jobs", "configMap": {"name": "jobs-abc", "defaultMode": 292}}
    assert c.scripts_mount() == {"name": "jobs", "mountPath": "/opt/sparkstack/jobs", "readOnly": True}
    # Spark uses volumes named spark-local-dir-* as its local directories.
    assert c.scratch_volume("10Gi") == {"name": "spark-local-dir-scratch", "emptyDir": {"sizeLimit": "10Gi"}}
    assert c.scratch_volume("10Gi", "/mnt/ssd") == {
        "name": "spark-local-dir-scratch", "hostPath": {"path": "/mnt/ssd", "type": "DirectoryOrCreate"}}
    assert c.scratch_volume("10Gi", "") == c.scratch_volume("10Gi")
    assert c.scratch_mount() == {"name": "spark-local-dir-scratch", "mountPath": "/var/spark/scratch"}
    assert c.script_uri("sales_etl.py") == "local:///opt/sparkstack/jobs/sales_etl.py"


def test_checkov_skips_are_numbered_from_one_with_their_reasons() -> None:
    assert c.checkov_skips(("CKV_A", "why a"), ("CKV_B", "why b")) == {
        "checkov.io/skip1": "CKV_A=why a", "checkov.io/skip2": "CKV_B=why b"}
    assert c.checkov_skips() == {}
