"""Runs the Spark Operator's controller and webhook on this machine, as its Helm chart deployed them.

kwok gives the local cluster pods without containers, so the chart's controller and webhook Deployments are
placeholders. This process plays their kubelet: for each Deployment the chart creates (label
app.kubernetes.io/name=spark-operator, component controller or webhook) it runs the real operator v2.5.2 binary
with the container's own arguments and the Deployment's ServiceAccount (a TokenRequest token, so the chart's RBAC
is what the operator really gets), changing only what a host needs: free loopback ports for metrics and health,
a certificate folder, and the API server's address for spark-submit (operator pkg/util/util.go builds the master
URL from KUBERNETES_SERVICE_HOST/PORT; internal/controller/sparkapplication/submission.go runs
$SPARK_HOME/bin/spark-submit, here the one in the pyspark wheel).

Once a process serves (its /readyz answers, and for the webhook the chart's webhook configurations carry its CA),
it marks the Deployment's pods with sparkstack.dev/host-process=ready and kwok makes them Ready, so a Helm wait,
and so `pulumi up`, goes on only when the real operator can admit and run applications. A process that exits is
started again; a Deployment that goes away takes its process with it.

Started by `scripts/local-cluster.sh start --operator`; logs in <state>/logs/operator-<component>.log.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.engines.kube import Kube, KubeError, kubeconfig
from tools.engines.local_cluster import State, free_port

SELECTOR = "app.kubernetes.io/name=spark-operator"
COMPONENTS = ("controller", "webhook")
READY_ANNOTATION = "sparkstack.dev/host-process"
RESTART_BACKOFF = 5.0  # seconds between starts of a process that keeps exiting, as a kubelet backs off
HOST_FLAGS = ("--metrics-bind-address=", "--health-probe-bind-address=", "--webhook-cert-dir=", "--kubeconfig=")


def spark_home() -> str:
    import pyspark  # the wheel carries bin/spark-submit and Spark's jars

    home = Path(pyspark.__file__).resolve().parent
    (home / "bin/spark-submit").chmod(0o755)
    return str(home)


@dataclass
class Hosted:
    """One Deployment's host process."""

    namespace: str
    name: str
    component: str
    uid: str
    process: subprocess.Popen
    health: str
    started: float = field(default_factory=time.monotonic)


class OperatorHost:
    def __init__(self, state: State, binary: str) -> None:
        self.state = state
        self.binary = binary
        self.kube = Kube.from_kubeconfig(state.admin_kubeconfig)
        self.hosted: dict[str, Hosted] = {}
        self.spark_home = spark_home()

    def log(self, message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} operator-host: {message}", flush=True)

    def _service_account_kubeconfig(self, namespace: str, account: str, component: str) -> Path:
        token = self.kube.service_account_token(namespace, account)
        cluster = yaml.safe_load(self.state.admin_kubeconfig.read_text())["clusters"][0]["cluster"]
        path = self.state.root / f"operator-{component}.kubeconfig"
        path.write_text(kubeconfig(cluster["server"], base64.b64decode(cluster["certificate-authority-data"]),
                                   {"token": token}, name=f"{namespace}-{account}"))
        path.chmod(0o600)
        return path

    def _start(self, deployment: dict) -> Hosted:
        meta = deployment["metadata"]
        component = meta["labels"]["app.kubernetes.io/component"]
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        account = pod.get("serviceAccountName", "default")
        config = self._service_account_kubeconfig(meta["namespace"], account, component)
        health = f"127.0.0.1:{free_port()}"
        args = [arg for arg in container.get("args", []) if not arg.startswith(HOST_FLAGS)]
        args += [f"--kubeconfig={config}", f"--health-probe-bind-address={health}",
                 f"--metrics-bind-address=127.0.0.1:{free_port()}"]
        if component == "webhook":
            args.append(f"--webhook-cert-dir={self.state.root / 'operator-webhook-certs'}")
        server = self.kube.server.removeprefix("https://")
        host, port = server.rsplit(":", 1)
        env = {**os.environ, "KUBECONFIG": str(config), "SPARK_HOME": self.spark_home,
               "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
        env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
        log = open(self.state.logs / f"operator-{component}.log", "ab")  # noqa: SIM115 - the child keeps it
        process = subprocess.Popen([self.binary, *args], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, cwd=self.state.root)
        self.log(f"started {component} for {meta['namespace']}/{meta['name']} as {account} (pid {process.pid}): "
                 + " ".join(args))
        return Hosted(meta["namespace"], meta["name"], component, meta["uid"], process, health)

    def _serving(self, hosted: Hosted) -> bool:
        try:
            with urllib.request.urlopen(f"http://{hosted.health}/readyz", timeout=2) as response:
                if response.status != 200:
                    return False
        except OSError:
            return False
        if hosted.component != "webhook":
            return True
        # The webhook patches its CA into the chart's webhook configurations; until then admission calls fail TLS.
        for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
            for config in self.kube.items(f"/apis/admissionregistration.k8s.io/v1/{kind}?labelSelector={SELECTOR}"):
                if not all(hook["clientConfig"].get("caBundle") for hook in config.get("webhooks", [])):
                    return False
        return True

    def _mark_pods(self, hosted: Hosted, deployment: dict) -> None:
        labels = deployment["spec"]["selector"].get("matchLabels", {})
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        for pod in self.kube.items(f"/api/v1/namespaces/{hosted.namespace}/pods?labelSelector={selector}"):
            if pod["metadata"].get("annotations", {}).get(READY_ANNOTATION) != "ready":
                self.kube.merge_patch(f"/api/v1/namespaces/{hosted.namespace}/pods/{pod['metadata']['name']}",
                                      {"metadata": {"annotations": {READY_ANNOTATION: "ready"}}})
                self.log(f"{hosted.component} serves: marked pod {pod['metadata']['name']} ready")

    def _stop(self, key: str) -> None:
        hosted = self.hosted.pop(key)
        hosted.process.terminate()
        try:
            hosted.process.wait(10)
        except subprocess.TimeoutExpired:
            hosted.process.kill()
        self.log(f"stopped {hosted.component} ({hosted.namespace}/{hosted.name})")

    def reconcile(self) -> None:
        deployments = {
            f"{d['metadata']['namespace']}/{d['metadata']['name']}": d
            for d in self.kube.items(f"/apis/apps/v1/deployments?labelSelector={SELECTOR}")
            if d["metadata"]["labels"].get("app.kubernetes.io/component") in COMPONENTS
            and not d["metadata"].get("deletionTimestamp")
        }
        for key, hosted in list(self.hosted.items()):
            current = deployments.get(key)
            if current is None or current["metadata"]["uid"] != hosted.uid:
                self._stop(key)
            elif hosted.process.poll() is not None and time.monotonic() - hosted.started > RESTART_BACKOFF:
                self.log(f"{hosted.component} exited with {hosted.process.returncode}; starting it again")
                self.hosted.pop(key)
        for key, deployment in deployments.items():
            if key not in self.hosted:
                self.hosted[key] = self._start(deployment)
        for key, hosted in self.hosted.items():
            # New pods (a rollout, a deleted pod) need the mark too, so look every round once serving.
            if self._serving(hosted):
                self._mark_pods(hosted, deployments[key])

    def run(self) -> None:
        def shutdown(*_: object) -> None:
            for key in list(self.hosted):
                self._stop(key)
            sys.exit(0)

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        self.log(f"watching Deployments with {SELECTOR}; SPARK_HOME={self.spark_home}")
        while True:
            try:
                self.reconcile()
            except (OSError, KubeError) as error:
                self.log(f"will retry: {error}")
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Spark Operator's chart Deployments as host processes.")
    parser.add_argument("--state", type=Path, required=True, help="the local cluster's state directory")
    parser.add_argument("--operator", required=True, help="the operator binary built by scripts/build-engines.sh")
    args = parser.parse_args(argv)
    OperatorHost(State(args.state), args.operator).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
