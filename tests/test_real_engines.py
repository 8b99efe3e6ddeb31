"""The stack on the real engines: the Pulumi CLI and engine, the Kubernetes provider, kube-apiserver with RBAC and Pod
Security admission, the controllers, the scheduler, kwok, and Spark Operator v2.5.2 with its real webhook and its
real spark-submit, all on 127.0.0.1 (tools/engines/).

One scenario, in order (the tests share one cluster and one stack): preview with the policy pack equals the offline
plan; up creates every object and runs sales-etl to COMPLETED; a second preview has no changes; a data change
replaces the generator and the run; a failing driver fails `up` quickly with the app's state and message, and the
next `up` recovers; the state file holds no secret in plain text; destroy refuses while the data is protected and
then removes every object.

Needs the engines (`scripts/build-engines.sh`; CI builds them) and Java; skips with the reason elsewhere, and fails
under CI=true, where the engines must be there.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.real_engines import ENGINES, needs_engines
from tests.spark_driver import SPARK_DRIVER_CALLS
from tools.engines.kube import Kube, KubeError, wait_until

ROOT = Path(__file__).resolve().parent.parent
STACK = "e2e"
APP = "sales-etl"
JOB_NAMESPACE = "spark-jobs"
FAIL_LABEL = "spark.kubernetes.driver.label.sparkstack.dev/e2e-outcome"
SECRETS = {"accessKeyId": "AKIAE2EONLYEXAMPLE01", "secretAccessKey": "e2e-secret-value-7b1f93c0"}


pytestmark = needs_engines()


class Scenario:
    """The local cluster, a copy of the project with its `e2e` stack file, and the commands run against them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state = tmp / "cluster"
        self.project = tmp / "project"
        self.env = {**os.environ, "SPARKSTACK_CLUSTER_DIR": str(self.state), "SPARKSTACK_ENGINES_BIN": str(ENGINES)}
        self.kube: Kube | None = None
        self.created: list[tuple[str, str, str, str | None]] = []  # apiVersion, kind, name, namespace

    def start_cluster(self) -> None:
        done = subprocess.run([str(ROOT / "scripts/local-cluster.sh"), "start", "--operator"], env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-4000:]
        exports = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
        kubeconfig = exports["KUBECONFIG"]
        self.kube = Kube.from_kubeconfig(Path(kubeconfig))
        # The fake kind hands the stack this cluster's kubeconfig (tests/fakes/kind); kind's clusters are its state.
        self.env.update({
            "PATH": os.pathsep.join([str(ROOT / "tests/fakes"), str(ENGINES), str(Path(sys.executable).parent),
                                     os.environ["PATH"]]),
            "FAKE_KIND_STATE": str(self.tmp / "kind"), "FAKE_KIND_KUBECONFIG": kubeconfig,
            "PULUMI_BACKEND_URL": f"file://{self.tmp / 'backend'}", "PULUMI_HOME": str(self.tmp / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": "e2e-only", "PULUMI_SKIP_UPDATE_CHECK": "true",
        })
        (self.tmp / "backend").mkdir()

    def stop_cluster(self) -> None:
        subprocess.run([str(ROOT / "scripts/local-cluster.sh"), "stop"], env=self.env, timeout=120)

    def write_project(self) -> None:
        """The program, the jobs and Pulumi.e2e.yaml: the dev settings on the local cluster and the local chart."""
        self.project.mkdir()
        ignore = shutil.ignore_patterns("__pycache__")
        for folder in ("infra", "jobs"):
            shutil.copytree(ROOT / folder, self.project / folder, ignore=ignore)
        for file in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(ROOT / file, self.project / file)
        settings = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
        config = settings["config"]
        config["sparkstack:cluster"]["name"] = "sparkstack-e2e"
        config["sparkstack:platform"]["operator"]["chartPath"] = str(ENGINES.parent / "spark-operator-chart")
        self.settings = settings
        self.save()
        # Secret config as users set it, through the CLI (encrypted into the stack file with the passphrase).
        self.cli("stack", "init", STACK)
        for key, value in SECRETS.items():
            self.cli("config", "set", "--stack", STACK, "--secret", "--path",
                     f"sparkstack:objectStoreCredentials.{key}", value)
        self.settings = yaml.safe_load((self.project / f"Pulumi.{STACK}.yaml").read_text())

    def cli(self, *args: str) -> str:
        done = subprocess.run(["pulumi", *args], cwd=self.project, env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def save(self) -> None:
        (self.project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(self.settings, sort_keys=False))

    @property
    def config(self) -> dict[str, Any]:
        return self.settings["config"]

    def pulumi(self, verb: str, *flags: str, timeout: float = 900) -> tuple[int, dict[str, Any], float]:
        """One CLI run through tools/engines/pulumi_run.py: (exit code, its JSON result, seconds taken)."""
        started = time.monotonic()
        # Its own process group: on a timeout the CLI and the plugins it started go too, not only the Python parent.
        run = subprocess.Popen([sys.executable, "-m", "tools.engines.pulumi_run", "--workdir", str(self.project),
                                "--stack", STACK, verb, *flags], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
        try:
            stdout, _ = run.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()
            raise
        return run.returncode, json.loads(stdout), time.monotonic() - started

    def spark_application(self) -> dict[str, Any] | None:
        return self.kube.get(f"/apis/sparkoperator.k8s.io/v1beta2/namespaces/{JOB_NAMESPACE}/sparkapplications/{APP}")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Any:
    run = Scenario(tmp_path_factory.mktemp("real-engines"))
    run.start_cluster()
    run.write_project()
    try:
        yield run
    finally:
        run.stop_cluster()


def _objects(result: dict[str, Any], ops: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(r["type"], r["name"]) for r in result["resources"]
            if r["op"] in ops and not r["type"].startswith(("pulumi:providers:", "pulumi:pulumi:"))}


def offline_plan(config: dict[str, Any]) -> set[tuple[str, str]]:
    """What the mock engine registers for the same settings (tools/plan/mock_engine.py, as tools.plan.render uses
    it); the secret config goes in decrypted, as the CLI hands it to the program, and marked secret."""
    config = {**config, "sparkstack:objectStoreCredentials": SECRETS}
    code = ("import json, sys; from tools.plan.mock_engine import run_program; "
            "rec = run_program(json.loads(sys.argv[1]), stack=sys.argv[2], "
            "secret_keys=['sparkstack:objectStoreCredentials']); "
            "json.dump(sorted({(r.type, r.name) for r in rec.resources if not r.type.startswith('pulumi:providers:')}),"
            " sys.stdout)")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(config), STACK], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {tuple(pair) for pair in json.loads(done.stdout)}


def test_preview_with_the_policy_pack_plans_what_the_offline_plan_writes(scenario: Scenario) -> None:
    code, result, _ = scenario.pulumi("preview", "--policy-pack", str(ROOT / "policy"))
    assert code == 0, result.get("error", "")[-3000:]
    assert [name.split("|")[0] for name in result["policy_packs"]] == ["sparkstack"]  # it ran; nothing mandatory
    assert [v for v in result["violations"] if v["level"] == "mandatory"] == []
    planned = _objects(result, ("create",))
    assert ("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication", APP) in planned
    assert planned == offline_plan(scenario.config)


def test_up_creates_every_object_and_the_operator_runs_the_etl(scenario: Scenario) -> None:
    code, result, _ = scenario.pulumi("up")
    assert code == 0, result.get("error", "")[-3000:]
    deployment = scenario.pulumi("export")[1]["deployment"]
    kube = scenario.kube
    for resource in deployment["resources"]:
        outputs = resource.get("outputs", {})
        if resource["type"].startswith("kubernetes:") and "apiVersion" in outputs and "kind" in outputs:
            meta = outputs["metadata"]
            ref = (outputs["apiVersion"], outputs["kind"], meta["name"], meta.get("namespace"))
            scenario.created.append(ref)
            assert kube.get(kube.object_path(*ref)) is not None, f"{ref} is in the state but not on the API server"
    kinds = {kind for _, kind, _, _ in scenario.created}
    assert {"Namespace", "SparkApplication", "ScheduledSparkApplication", "Job", "PersistentVolumeClaim"} <= kinds
    # The chart's objects are Helm's, not Pulumi's: check the operator's own Deployments are there too.
    assert len(kube.items("/apis/apps/v1/deployments?labelSelector=app.kubernetes.io/name=spark-operator")) == 2

    app = scenario.spark_application()
    assert app["status"]["applicationState"]["state"] == "COMPLETED"
    driver = kube.get(f"/api/v1/namespaces/{JOB_NAMESPACE}/pods/{APP}-driver")
    # Made by the operator's spark-submit, mutated by its webhook (it adds the scripts ConfigMap volume), admitted
    # under Pod Security `restricted` (the namespace enforces it; the next test shows a bad pod is refused).
    assert driver["metadata"]["labels"]["sparkoperator.k8s.io/launched-by-spark-operator"] == "true"
    assert driver["status"]["phase"] == "Succeeded"
    assert any("configMap" in volume for volume in driver["spec"]["volumes"])
    namespace = kube.get(f"/api/v1/namespaces/{JOB_NAMESPACE}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_pod_security_admission_really_refuses_a_root_pod_in_the_job_namespace(scenario: Scenario) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root-probe"},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.37", "securityContext": {"runAsUser": 0}}]}}
    with pytest.raises(KubeError) as refused:
        scenario.kube.request("POST", f"/api/v1/namespaces/{JOB_NAMESPACE}/pods?dryRun=All", pod)
    assert refused.value.status == 403 and 'violates PodSecurity "restricted' in str(refused.value)


# What a Spark 4.0.4 driver does with the API server (spark-kubernetes: ExecutorPodsAllocator creates executor
# pods, ExecutorPodsWatchSnapshotSource and ExecutorPodsPollingSnapshotSource watch and list them,
# KubernetesClusterSchedulerBackend creates the executors' ConfigMap and at stop deletes pods, ConfigMaps and
# claims by label), and what no Spark pod may do.
NOBODY_MAY = [("get", "secrets"), ("create", "rolebindings"), ("patch", "namespaces"), ("create", "pods/exec")]


def _allowed(kube: Kube, account: str, verb: str, resource: str, namespace: str = JOB_NAMESPACE) -> bool:
    resource, _, sub = resource.partition("/")
    review = kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": f"system:serviceaccount:{JOB_NAMESPACE}:{account}",
                 "groups": ["system:serviceaccounts", f"system:serviceaccounts:{JOB_NAMESPACE}"],
                 "resourceAttributes": {"namespace": namespace, "verb": verb, "resource": resource,
                                        "subresource": sub}}})
    return review["status"]["allowed"]


def test_rbac_gives_the_driver_what_spark_calls_and_nothing_more(scenario: Scenario) -> None:
    kube = scenario.kube  # the real RBAC authorizer decides
    assert [(v, r) for r, v in SPARK_DRIVER_CALLS if not _allowed(kube, "spark-driver", v, r)] == []
    for account in ("spark-driver", "spark-executor"):
        assert [(v, r) for v, r in NOBODY_MAY if _allowed(kube, account, v, r)] == []
    assert not _allowed(kube, "spark-executor", "list", "pods")  # executors never call the API server
    assert not _allowed(kube, "spark-driver", "create", "pods", namespace="default")  # its namespace only


def test_a_second_preview_expects_no_changes(scenario: Scenario) -> None:
    code, result, _ = scenario.pulumi("preview", "--expect-no-changes")
    assert code == 0, result.get("error", "")[-3000:]


def test_new_rows_per_file_replaces_the_generator_and_the_run(scenario: Scenario) -> None:
    scenario.config["sparkstack:generator"]["rowsPerFile"] = 20000
    scenario.save()
    code, result, _ = scenario.pulumi("preview")
    assert code == 0, result.get("error", "")[-3000:]
    replaced = _objects(result, ("replace", "create-replacement"))
    assert ("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication", APP) in replaced
    assert any(kind == "kubernetes:batch/v1:Job" for kind, _ in replaced), replaced
    before = scenario.spark_application()["metadata"]["uid"]
    code, result, _ = scenario.pulumi("up")
    assert code == 0, result.get("error", "")[-3000:]
    after = scenario.spark_application()
    assert after["metadata"]["uid"] != before and after["status"]["applicationState"]["state"] == "COMPLETED"


def test_a_failing_run_fails_up_quickly_and_the_next_up_recovers(scenario: Scenario) -> None:
    conf = scenario.config["sparkstack:applications"][APP]["sparkConf"]
    conf[FAIL_LABEL] = "fail"  # kwok fails a driver with this label (tools/engines/kwok_stages.yaml)
    scenario.save()
    code, result, seconds = scenario.pulumi("up")
    assert code != 0 and seconds < 120, (code, seconds)
    assert f"sparkstack:applications.{APP}: the run ended FAILED: driver container failed with ExitCode: 1" \
        in result["error"]
    del conf[FAIL_LABEL]
    scenario.save()
    code, result, seconds = scenario.pulumi("up")
    assert code == 0, result.get("error", "")[-3000:]
    assert scenario.spark_application()["status"]["applicationState"]["state"] == "COMPLETED"


def test_the_exported_state_and_the_stack_file_hold_no_secret_in_plain_text(scenario: Scenario) -> None:
    exported = json.dumps(scenario.pulumi("export")[1]["deployment"])  # `pulumi stack export`, as users run it
    stack_file = (scenario.project / f"Pulumi.{STACK}.yaml").read_text()
    admin = yaml.safe_load(Path(scenario.env["FAKE_KIND_KUBECONFIG"]).read_text())["users"][0]["user"]
    for secret in (admin["client-key-data"], admin["client-certificate-data"], *SECRETS.values()):
        assert secret not in exported and secret not in stack_file
    assert '"ciphertext"' in exported  # they are there, encrypted
    # ... and they reached the cluster: the credentials Secret holds them.
    stored = scenario.kube.get(f"/api/v1/namespaces/{JOB_NAMESPACE}/secrets/object-store-credentials")["data"]
    assert base64.b64decode(stored["AWS_SECRET_ACCESS_KEY"]).decode() == SECRETS["secretAccessKey"]


def test_destroy_stops_at_the_protected_data_then_removes_every_object(scenario: Scenario) -> None:
    kube = scenario.kube
    code, result, _ = scenario.pulumi("destroy")
    # Pulumi deletes what does not hold the claim up, then refuses the claim itself, saying why and how to go on.
    assert code != 0 and "spark-data" in result["error"] and "cannot be deleted" in result["error"]
    claim = kube.get(f"/api/v1/namespaces/{JOB_NAMESPACE}/persistentvolumeclaims/spark-data")
    assert claim["status"]["phase"] == "Bound" and not claim["metadata"].get("deletionTimestamp")
    scenario.config["sparkstack:platform"]["storage"]["protectData"] = False
    scenario.save()
    code, result, _ = scenario.pulumi("up")  # puts the rest back and lifts the protection
    assert code == 0, result.get("error", "")[-3000:]
    code, result, _ = scenario.pulumi("destroy")
    assert code == 0, result.get("error", "")[-3000:]

    def gone(ref: tuple[str, str, str, str | None]) -> bool:
        return kube.get(kube.object_path(*ref)) is None
    for ref in scenario.created:
        wait_until(f"{ref} to be deleted", lambda ref=ref: gone(ref), 120)
    assert not list((scenario.tmp / "kind" / "clusters").glob("*.json"))  # the (fake) kind cluster is deleted


def test_a_second_start_is_refused_and_stop_ends_exactly_what_start_started(scenario: Scenario) -> None:
    again = subprocess.run([str(ROOT / "scripts/local-cluster.sh"), "start"], env=scenario.env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 2 and "already running" in again.stderr
    started = json.loads((scenario.state / "processes.json").read_text())
    assert {p["name"] for p in started} >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                            "kwok", "operator-host"}
    children = [int(pid) for p in started
                for pid in Path(f"/proc/{p['pid']}/task/{p['pid']}/children").read_text().split()]
    scenario.stop_cluster()
    for pid in [p["pid"] for p in started] + children:  # the operator host's controller and webhook too
        assert not Path(f"/proc/{pid}").exists() or b"zombie" in Path(f"/proc/{pid}/status").read_bytes().lower()
    assert not scenario.state.exists()
