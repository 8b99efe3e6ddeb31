"""The dev stack's offline plan (tools/plan/render.py) is what a cluster would accept, and is hardened.

The plan is rendered once per session from the real program under the Pulumi mock engine, then checked the way
the API server, the operator's CRDs, Helm and a policy scanner would check it: kubernetes-validate (strict, 1.33),
the v2.5.2 CRD schemas with unknown fields rejected, the chart's values.yaml, and checkov (offline).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from pulumi.runtime import rpc

from tests.crd_schema import CRD_FILES, CRD_VERSION, crd_errors, validators
from tests.reference import reference
from tests.scopes import recorded
from tools.plan.files import INDEX, file_category
from tools.plan.manifest_yaml import SECRET, sanitize
from tools.plan.mock_engine import ROOT, run_program
from tools.plan.render import record_stack, render_plan, write_plan

STACK = "dev"
K8S_VERSION = "1.33"
CHART = {"chart": "spark-operator", "version": "2.5.2", "repository": "https://kubeflow.github.io/spark-operator"}
# Chart 1.x keys; chart 2.x ignores them silently, leaving the operator watching no job namespace.
CHART_1X_KEYS = {"sparkJobNamespaces", "serviceAccounts"}
REQUIRED_KINDS = {
    "Namespace", "ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim", "DaemonSet", "ConfigMap", "Job",
}
CHECKOV_TIMEOUT = 300


# --- fixtures: one plan, one checkov run per session --------------------------------------------------------


@pytest.fixture(scope=recorded)
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, _ = write_plan(STACK, tmp_path_factory.mktemp("plan"))
    return folder


@pytest.fixture(scope=recorded)
def documents(plan_dir: Path) -> dict[str, dict[str, Any]]:
    """File name -> parsed document, for every YAML file of the plan (one document per file)."""
    docs = {}
    for path in sorted(plan_dir.glob("*.yaml")):
        loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        assert len(loaded) == 1 and isinstance(loaded[0], dict), f"{path.name}: expected one mapping"
        docs[path.name] = loaded[0]
    return docs


def _of(documents: dict[str, dict[str, Any]], category: str) -> dict[str, dict[str, Any]]:
    return {name: doc for name, doc in documents.items() if file_category(name) == category}


@pytest.fixture(scope=recorded)
def kube_objects(documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return _of(documents, "kubernetes")


@pytest.fixture(scope=recorded)
def core_objects(kube_objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: d for n, d in kube_objects.items() if d["kind"] not in CRD_FILES}


@pytest.fixture(scope=recorded)
def spark_objects(kube_objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: d for n, d in kube_objects.items() if d["kind"] in CRD_FILES}


@pytest.fixture(scope=recorded)
def helm_release(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    releases = _of(documents, "helm")
    assert len(releases) == 1, f"expected one Helm release file, found {sorted(releases)}"
    return next(iter(releases.values()))


# --- plan basics -------------------------------------------------------------------------------------------


def test_plan_files_are_categorised_and_indexed(plan_dir: Path, documents: dict[str, dict[str, Any]]) -> None:
    names = sorted(p.name for p in plan_dir.iterdir())
    assert INDEX in names
    assert all(file_category(n) for n in names if n != INDEX), names
    index = (plan_dir / INDEX).read_text()
    assert all(n in index for n in documents)
    assert len(_of(documents, "kind")) == 1, "the dev stack creates a kind cluster"
    assert names[0].startswith("00-")


def test_plan_is_deterministic(plan_dir: Path) -> None:
    """Two fresh runs of the program render byte-identical files, equal to what write_plan wrote."""
    first = render_plan(record_stack(STACK), STACK)
    second = render_plan(record_stack(STACK), STACK)
    assert first == second
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in plan_dir.iterdir()}
    assert on_disk == first


def test_plan_masks_secrets_and_flags_auto_names() -> None:
    def program() -> None:
        k8s.core.v1.ConfigMap(
            "auto-named",
            metadata={"namespace": "demo", "labels": {"team": "data"}},
            data={"password": pulumi.Output.secret("hunter2"), "plain": "visible"},
        )
        k8s.core.v1.Secret("creds", metadata={"name": "creds", "namespace": "demo"},
                           string_data={"token": "not-marked-secret"})

    files = render_plan(run_program({}, program=program), "unit")
    # Independent objects follow Helm's install order: Secret before ConfigMap.
    assert list(files) == ["00-secret-creds.yaml", "01-configmap-auto-named.yaml", INDEX]
    config_map, secret = files["01-configmap-auto-named.yaml"], files["00-secret-creds.yaml"]
    # The SDK marks the whole `data` map secret when one value is; keys survive, so the object stays valid.
    assert "hunter2" not in config_map and f"password: {SECRET}" in config_map
    assert "team: data" in config_map and "assigned by Pulumi" in config_map
    assert "not-marked-secret" not in secret and f"token: {SECRET}" in secret
    for text in (config_map, secret):
        kubernetes_validate.validate(yaml.safe_load(text), K8S_VERSION, strict=True)


def test_sanitize_masks_nested_secrets_and_drops_internal_keys() -> None:
    raw = {"__provider": "pickled", "spec": {"token": rpc.wrap_rpc_secret("s3cr3t"), "port": 8080.0, "ratio": 0.5},
           "args": [rpc.wrap_rpc_secret(["a"]), "b"], "env": rpc.wrap_rpc_secret({"KEY": "v", "N": 1.0})}
    assert sanitize(raw) == {"spec": {"token": SECRET, "port": 8080, "ratio": 0.5}, "args": [[SECRET], "b"],
                             "env": {"KEY": SECRET, "N": SECRET}}
    assert isinstance(sanitize(raw)["spec"]["port"], int)


# --- core Kubernetes objects: strict schema for the target version ------------------------------------------


def test_core_objects_are_strictly_valid_for_kubernetes_1_33(core_objects: dict[str, dict[str, Any]]) -> None:
    missing = REQUIRED_KINDS - {d["kind"] for d in core_objects.values()}
    assert not missing, f"the plan lacks these kinds: {sorted(missing)}"
    errors = []
    for name, obj in core_objects.items():
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            errors.append(f"{name}: {exc}")
    assert not errors, "\n".join(errors)


def test_kubernetes_validate_rejects_unknown_fields(core_objects: dict[str, dict[str, Any]]) -> None:
    """Guards the test above: strict mode must really reject what the API server would."""
    obj = copy.deepcopy(next(d for d in core_objects.values() if d["kind"] == "Job"))
    obj["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


# --- Spark custom resources: the operator's v2.5.2 CRD schemas -----------------------------------------------


@pytest.fixture(scope="session")
def crd_validators() -> dict[str, jsonschema.protocols.Validator]:
    return validators()


def test_spark_resources_match_crds(
    spark_objects: dict[str, dict[str, Any]], crd_validators: dict[str, jsonschema.protocols.Validator]
) -> None:
    assert {d["kind"] for d in spark_objects.values()} == set(CRD_FILES)
    errors = []
    for name, obj in spark_objects.items():
        assert obj["apiVersion"] == f"sparkoperator.k8s.io/{CRD_VERSION}", name
        errors += [f"{name}: {e}" for e in crd_errors(crd_validators[obj["kind"]], obj)]
    assert not errors, "\n".join(errors)


def test_crd_validator_rejects_unknown_fields_and_wrong_types(
    spark_objects: dict[str, dict[str, Any]], crd_validators: dict[str, jsonschema.protocols.Validator]
) -> None:
    app = next(d for d in spark_objects.values() if d["kind"] == "SparkApplication")
    validator = crd_validators["SparkApplication"]
    assert not crd_errors(validator, app)

    typo = copy.deepcopy(app)
    typo["spec"]["driver"]["coress"] = 1
    assert any("driver" in e and "coress" in e for e in crd_errors(validator, typo))

    wrong_type = copy.deepcopy(app)
    wrong_type["spec"]["driver"]["cores"] = "1"
    assert any(e.startswith("spec.driver.cores:") for e in crd_errors(validator, wrong_type))

    # int-or-string (emptyDir.sizeLimit): both forms pass, anything else fails.
    sized = copy.deepcopy(app)
    scratch = next(v for v in sized["spec"]["volumes"] if "emptyDir" in v)
    scratch["emptyDir"]["sizeLimit"] = 1024
    assert not crd_errors(validator, sized)
    scratch["emptyDir"]["sizeLimit"] = True
    assert crd_errors(validator, sized)

    # Free-form maps stay free-form.
    conf = copy.deepcopy(app)
    conf["spec"]["sparkConf"]["spark.any.key"] = "x"
    assert not crd_errors(validator, conf)


# --- Helm release: chart 2.5.2 pinned, values that exist in that chart ---------------------------------------


def unknown_value_keys(values: Any, reference: Any, path: str = "") -> list[str]:
    """Paths in `values` that chart `reference` (its values.yaml) does not have.

    Only where values.yaml has a non-empty dict are keys fixed; an empty dict or null there is a free-form map
    (resources, labels, nodeSelector), and list values are leaves.
    """
    if not isinstance(values, dict):
        return []
    if reference is None or reference == {}:
        return []
    if not isinstance(reference, dict):
        return [f"{path} (values.yaml has a {type(reference).__name__} here, not a map)"]
    problems = []
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if key not in reference:
            problems.append(here)
        else:
            problems += unknown_value_keys(value, reference[key], here)
    return problems


def all_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from all_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_keys(item)


@pytest.fixture(scope="session")
def chart_values() -> dict[str, Any]:
    path = reference("chart/values.yaml", "Helm values against chart 2.5.2's values.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_helm_release_pins_chart_2_5_2(helm_release: dict[str, Any]) -> None:
    assert {k: helm_release.get(k) for k in CHART} == CHART


def test_helm_values_exist_in_chart(helm_release: dict[str, Any], chart_values: dict[str, Any]) -> None:
    values = helm_release["values"]
    assert values, "the release sets no values"
    assert not unknown_value_keys(values, chart_values), unknown_value_keys(values, chart_values)


def test_helm_values_watch_the_job_namespace(
    helm_release: dict[str, Any], spark_objects: dict[str, dict[str, Any]]
) -> None:
    watched = helm_release["values"]["spark"]["jobNamespaces"]
    job_namespaces = {d["metadata"]["namespace"] for d in spark_objects.values()}
    assert job_namespaces and job_namespaces <= set(watched)
    assert not CHART_1X_KEYS & set(all_keys(helm_release["values"]))


def test_value_key_checker_rejects_chart_1x_keys(chart_values: dict[str, Any]) -> None:
    legacy = {"sparkJobNamespaces": ["spark-jobs"], "spark": {"jobNamespaces": ["spark-jobs"]},
              "controller": {"resources": {"limits": {"memory": "1Gi"}}, "replicaz": 2}}
    assert unknown_value_keys(legacy, chart_values) == ["sparkJobNamespaces", "controller.replicaz"]
    assert unknown_value_keys({"spark": {"jobNamespaces": {"a": 1}}}, chart_values)  # a list in the chart


# --- images and pod hardening --------------------------------------------------------------------------------


def images(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "image" and isinstance(item, str):
                yield item
            else:
                yield from images(item)
    elif isinstance(value, list):
        for item in value:
            yield from images(item)


def image_problem(image: str) -> str | None:
    name, _, digest = image.partition("@")
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    if digest:
        return None if digest.startswith("sha256:") else "malformed digest"
    if not tag:
        return "no tag"
    return "mutable 'latest' tag" if tag == "latest" else None


def test_every_image_is_pinned(documents: dict[str, dict[str, Any]]) -> None:
    found = {(name, image) for name, doc in documents.items() for image in images(doc)}
    assert len({i for _, i in found}) >= 3, f"too few images found to be meaningful: {found}"
    problems = [f"{name}: {image}: {image_problem(image)}" for name, image in sorted(found) if image_problem(image)]
    assert not problems, "\n".join(problems)
    assert image_problem("apache/spark") and image_problem("apache/spark:latest")
    assert image_problem("localhost:5000/spark") and not image_problem("localhost:5000/spark:4.0.4")


def pod_specs(value: Any) -> Iterator[dict[str, Any]]:
    """Every pod spec (a mapping with a containers list) anywhere in an object: templates, CronJob jobs, Pods."""
    if isinstance(value, dict):
        if isinstance(value.get("containers"), list):
            yield value
        for item in value.values():
            yield from pod_specs(item)
    elif isinstance(value, list):
        for item in value:
            yield from pod_specs(item)


def hardening_problems(security: dict[str, Any], pod_security: dict[str, Any]) -> list[str]:
    problems = []
    if security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is not True:
        problems.append("runAsNonRoot is not true")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if "ALL" not in (security.get("capabilities") or {}).get("drop", []):
        problems.append("capabilities.drop lacks ALL")
    return problems


def test_every_container_has_resources_and_hardened_security_context(
    core_objects: dict[str, dict[str, Any]]
) -> None:
    problems, checked = [], 0
    for name, obj in core_objects.items():
        for pod in pod_specs(obj):
            pod_security = pod.get("securityContext") or {}
            for container in pod["containers"] + pod.get("initContainers", []) + pod.get("ephemeralContainers", []):
                checked += 1
                where = f"{name}: container {container.get('name')}"
                resources = container.get("resources") or {}
                requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
                if not {"cpu", "memory"} <= set(requests) or "memory" not in limits:
                    problems.append(f"{where}: needs cpu+memory requests and a memory limit, has {resources}")
                problems += [f"{where}: {p}" for p in hardening_problems(container.get("securityContext") or {},
                                                                         pod_security)]
    assert checked >= 3, f"only {checked} containers found; the plan should have the pre-pull and generator pods"
    assert not problems, "\n".join(problems)


def test_spark_pods_have_resources_and_hardened_security_context(spark_objects: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, obj in spark_objects.items():
        spec = obj["spec"]["template"] if obj["kind"] == "ScheduledSparkApplication" else obj["spec"]
        for role in ("driver", "executor"):
            pod = spec[role]
            if not (pod.get("cores") or pod.get("coreRequest")) or not pod.get("memory") or not pod.get("coreLimit"):
                problems.append(f"{name}: {role} needs cores/coreRequest, coreLimit and memory")
            problems += [f"{name}: {role}: {p}" for p in hardening_problems(pod.get("securityContext") or {},
                                                                            pod.get("podSecurityContext") or {})]
    assert spark_objects and not problems, "\n".join(problems)


# --- checkov, offline ------------------------------------------------------------------------------------------


def checkov_executable() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(ROOT / ".venv-checkov" / "bin" / "checkov"), shutil.which("checkov")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope=recorded)
def checkov_report(
    kube_objects: dict[str, dict[str, Any]], plan_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """checkov's JSON report on the plan's Kubernetes objects (not the Helm/kind files), run once, offline."""
    executable = checkov_executable()
    if executable is None:
        pytest.skip("checkov not found: set CHECKOV, or create .venv-checkov (pip install -r requirements-checkov.txt)")
    folder = tmp_path_factory.mktemp("checkov")
    for name in kube_objects:
        shutil.copy(plan_dir / name, folder / name)
    # --skip-download and BC_SKIP_MAPPING keep checkov off Prisma Cloud; no API key means no upload either.
    command = [executable, "--directory", str(folder), "--framework", "kubernetes", "--skip-download",
               "--output", "json", "--compact", "--quiet"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
           "LOG_LEVEL": "WARNING"}
    env.pop("BC_API_KEY", None)
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT,
                          check=False)
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    [kubernetes] = [r for r in reports if r.get("check_type") == "kubernetes"] or [{"summary": report}]
    kubernetes["_files"] = len(kube_objects)
    return kubernetes


def test_checkov_scanned_every_object(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary.get("parsing_errors") == 0, summary
    assert summary.get("resource_count", 0) >= checkov_report["_files"], summary
    assert summary.get("passed", 0) > 0, summary


def test_checkov_finds_no_failures(checkov_report: dict[str, Any]) -> None:
    failed = checkov_report.get("results", {}).get("failed_checks", [])
    listing = "\n".join(f"{c['check_id']} {c['check_name']} | {c['resource']} | {c['file_path'].lstrip('/')}"
                        for c in failed)
    if failed:
        pytest.fail(f"checkov reports {len(failed)} failed checks; fix the manifest, or annotate the object with "
                    f"`checkov.io/skipN: CKV_K8S_xx=<reason>`:\n{listing}", pytrace=False)


def test_checkov_suppressions_give_reasons(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report.get("results", {}).get("skipped_checks", [])
    unexplained = [f"{c['check_id']} {c['resource']}" for c in skipped
                   if (c.get("check_result") or {}).get("suppress_comment", "No comment provided")
                   in ("", "No comment provided")]
    assert not unexplained, "suppressed without a reason (write CKV_K8S_xx=<reason>):\n" + "\n".join(unexplained)


# --- reference data and the plan of a second application ------------------------------------------------


def test_missing_reference_data_skips_with_a_reason_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.reference as ref

    monkeypatch.setattr(ref, "OPERATOR_REFERENCE", Path("/nonexistent/spark-operator-v2.5.2"))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match=r"CRD conformance not checked: .*SPARK_OPERATOR_REFERENCE"):
        ref.reference("crds", "CRD conformance")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CRD conformance not checked"):
        ref.reference("crds", "CRD conformance")


def test_a_second_application_added_to_the_stack_file_alone_shows_up_in_the_plan(
    tmp_path: Path, crd_validators: dict[str, jsonschema.protocols.Validator],
) -> None:
    """Adding a job is configuration only: a new entry gives its own SparkApplication with the platform defaults."""
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    config["config"]["sparkstack:applications"]["daily-report"] = {
        "script": "generate_data.py",
        "arguments": ["--output", "/data/report", "--files", 1],
        "executor": {"memory": "2g", "instances": 3},
        "dynamicAllocation": {"enabled": False},
        "sparkConf": {"spark.sql.shuffle.partitions": 16},
        "runOnUp": False,
        "schedule": {"cron": "30 6 * * mon-fri", "timeZone": "Europe/Berlin"},
    }
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    rendered = render_plan(record_stack("dev", tmp_path), "dev")
    docs = {n: yaml.safe_load(t) for n, t in rendered.items() if file_category(n) == "kubernetes"}
    spark = {(d["kind"], d["metadata"]["name"]): d for d in docs.values() if d["kind"] in CRD_FILES}
    assert set(spark) == {("SparkApplication", "sales-etl"), ("ScheduledSparkApplication", "sales-etl"),
                          ("ScheduledSparkApplication", "daily-report")}
    report = spark[("ScheduledSparkApplication", "daily-report")]
    template = report["spec"]["template"]
    assert report["spec"]["schedule"] == "30 6 * * mon-fri" and report["spec"]["timeZone"] == "Europe/Berlin"
    assert template["mainApplicationFile"] == "local:///opt/sparkstack/jobs/generate_data.py"
    assert template["arguments"] == ["--output", "/data/report", "--files", "1"]
    assert template["executor"]["instances"] == 3 and "dynamicAllocation" not in template
    etl = spark[("SparkApplication", "sales-etl")]["spec"]
    for key, value in etl["sparkConf"].items():  # every platform default, plus its own setting
        if key != "spark.metrics.namespace":  # each application's own name
            assert template["sparkConf"][key] == value
    assert template["sparkConf"]["spark.metrics.namespace"] == "daily-report"
    assert template["sparkConf"]["spark.sql.shuffle.partitions"] == "16"
    assert template["volumes"] == etl["volumes"]  # scripts, scratch and (it writes /data) the data claim
    for doc in spark.values():
        assert crd_errors(crd_validators[doc["kind"]], doc) == []
