"""Apache YuniKorn's scheduler on the local cluster, as its chart would run it, but as a process on this machine.

What the scheduler needs, settled from k8shim v1.8.0's source:
- configuration: the ConfigMaps `yunikorn-defaults` (what the chart renders from `yunikornDefaults`, so
  `queues.yaml` and any `service.*` option) and `yunikorn-configs` (optional) in the namespace named by $NAMESPACE
  (pkg/client/bootstrap.go LoadBootstrapConfigMaps; pkg/conf/schedulerconf.go GetSchedulerNamespace, default
  `default`; pkg/common/constants/constants.go for the names);
- the API server: in a pod, its ServiceAccount; elsewhere the kubeconfig at $KUBECONFIG, else ~/.kube/config
  (pkg/client/kubeclient.go CreateRestConfig, pkg/conf/schedulerconf.go GetDefaultKubeConfigPath);
- RBAC: what deployments/scheduler/yunikorn-rbac.yaml grants the `yunikorn-admin` ServiceAccount (configmaps,
  namespaces, priority classes, pods with create/delete for placeholders, plus the `system:kube-scheduler` and
  `system:volume-scheduler` roles). It runs here with exactly that: a token of that ServiceAccount, not the admin.

The chart's own templates are not in any Go module, so its RBAC is taken from the shim's published manifest
(scripts/build-engines.sh copies it beside the binaries).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tools.engines.kube import Kube, kubeconfig, wait_until
from tools.engines.local_cluster import State, free_port, spawn

NAMESPACE = "yunikorn"
# The chart's ServiceAccount (values.yaml `serviceAccount`), the one yunikorn-rbac.yaml binds.
SERVICE_ACCOUNT = "yunikorn-admin"
DEFAULTS = "yunikorn-defaults"
NAME = "yunikorn-scheduler"
_REST_LINE = re.compile(r"REST API on (127\.0\.0\.1:\d+)")


def _grant(kube: Kube, rbac_file: Path, namespace: str) -> None:
    """Apply the published RBAC, its namespaced objects and ServiceAccount subjects in `namespace`."""
    for doc in yaml.safe_load_all(rbac_file.read_text()):
        if not doc:
            continue
        if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            doc["metadata"]["namespace"] = namespace
        for subject in doc.get("subjects") or []:
            if subject["kind"] == "ServiceAccount":
                subject["namespace"] = namespace
        kube.apply(kube.object_path(doc["apiVersion"], doc["kind"], doc["metadata"]["name"],
                                    doc["metadata"].get("namespace")), doc)


def start(state: State, kube: Kube, bin_dir: Path, defaults: Mapping[str, str], namespace: str = NAMESPACE,
          timeout: float = 60) -> str:
    """Run the scheduler against the cluster with `defaults` as its yunikorn-defaults data; return its REST base
    URL. The process is recorded in the cluster's processes.json, so `local-cluster.sh stop` ends it too."""
    kube.apply(f"/api/v1/namespaces/{namespace}", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": namespace}})
    _grant(kube, bin_dir.parent / "yunikorn-rbac.yaml", namespace)
    kube.apply(f"/api/v1/namespaces/{namespace}/configmaps/{DEFAULTS}", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": DEFAULTS, "namespace": namespace},
        "data": dict(defaults)})
    token = kube.service_account_token(namespace, SERVICE_ACCOUNT)
    config = state.root / "yunikorn.kubeconfig"
    config.write_text(kubeconfig(kube.server, (state.pki / "ca.crt").read_bytes(), {"token": token}))
    config.chmod(0o600)
    # Not in a pod: without KUBERNETES_SERVICE_HOST the shim takes $KUBECONFIG (rest.InClusterConfig refuses).
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    env.update(KUBECONFIG=str(config), NAMESPACE=namespace, SPARKSTACK_YUNIKORN_REST=f"127.0.0.1:{free_port()}")
    process = spawn(state, NAME, [str(bin_dir / NAME)], env=env)
    log = state.logs / f"{NAME}.log"

    def rest_address() -> str | None:
        if process.poll() is not None:
            raise SystemExit(f"{NAME} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        found = _REST_LINE.search(log.read_text(errors="replace"))
        return found.group(1) if found else None
    base = f"http://{wait_until(f'{NAME} to serve its REST API', rest_address, timeout, 0.2)}"
    # Healthy comes before the shim has registered the partition and the nodes: wait for those.
    wait_until(f"{NAME} to be healthy", lambda: rest(base, "/ws/v1/scheduler/healthcheck").get("Healthy"), timeout)
    wait_until(f"{NAME} to know the cluster's nodes",
               lambda: any(p.get("totalNodes") for p in rest(base, "/ws/v1/partitions")), timeout)
    return base


def rest(base: str, path: str) -> Any:
    """GET one of the core's REST endpoints (yunikorn-core pkg/webservice/routes.go) as JSON."""
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.loads(response.read())


def wait_for_state(base: str, app_id: str, states: set[str], timeout: float,
                   partition: str = "default") -> dict[str, Any]:
    """The core's view of one application (its queue, state, placeholder data) once it is in one of `states`; until
    the core knows the application its REST API answers 404, an OSError wait_until retries."""
    def reached() -> dict[str, Any] | None:
        app = rest(base, f"/ws/v1/partition/{partition}/application/{app_id}")
        return app if app.get("applicationState") in states else None
    return wait_until(f"application {app_id} to reach {sorted(states)}", reached, timeout)
