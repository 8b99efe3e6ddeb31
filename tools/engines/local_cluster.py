"""A real Kubernetes control plane on 127.0.0.1, for proving the stack with the real engines.

    scripts/local-cluster.sh start [--operator]    prints `export KUBECONFIG=...` and `export PATH=...` for eval
    scripts/local-cluster.sh stop                  ends exactly the processes `start` started, removes the state

Runs etcd, kube-apiserver (RBAC, Pod Security admission, service-account tokens), kube-controller-manager,
kube-scheduler and kwok with one fake node, plus a default StorageClass with four pre-made 50Gi volumes, all from
the binaries `scripts/build-engines.sh` built. With `--operator` it also runs the operator host
(tools/engines/operator_host.py), which runs the Spark Operator's controller and webhook on this machine as soon as
its Helm chart is installed.

kwok plays the kubelet: pods become Running and Ready (with addresses nothing connects to); Spark drivers succeed
after a few seconds, or fail on request (tools/engines/kwok_stages.yaml). Services get ClusterIPs in 127.96.0.0/16,
so the API server's call to the operator's webhook Service lands on this machine, where the webhook listens.
Nothing real runs in a pod: the chart's operator pods are placeholders that turn Ready only once the host process
behind them serves.

State lives in $SPARKSTACK_CLUSTER_DIR (default ~/.cache/sparkstack/local-cluster): certificates, etcd's data, one
log per process under logs/, the admin kubeconfig, and processes.json with the id of every process started.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tools.console import BAD_INPUT
from tools.engines.kube import Kube, kubeconfig, wait_until
from tools.engines.pki import make_pki

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STAGES = HERE / "kwok_stages.yaml"
NODE_NAME = "sparkstack-node"
NODE_LABEL = ("type", "kwok")
# Services' ClusterIPs: in 127/8, which Linux routes to this machine, so a Service's address reaches the process
# serving its port here (there is no kube-proxy). Endpoint addresses may not be loopback; ClusterIPs may.
SERVICE_CIDR = "127.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
STORAGE_CLASS = "standard"
VOLUMES = 4

# Control-plane users: the admin (what `eval` hands to people and to Pulumi) and one per component, so each runs
# with the RBAC Kubernetes bootstraps for it.
CLIENTS = {
    "admin": "/O=system:masters/CN=sparkstack-admin",
    "controller-manager": "/CN=system:kube-controller-manager",
    "scheduler": "/CN=system:kube-scheduler",
    "kwok": "/O=system:masters/CN=kwok",
}


def default_state_dir() -> Path:
    return Path(os.environ.get("SPARKSTACK_CLUSTER_DIR", Path.home() / ".cache/sparkstack/local-cluster"))


class CannotStartError(RuntimeError):
    """Nothing was started: engines not built, or a cluster already running (exit 2, like other bad setup)."""


def engines_bin() -> Path:
    """The built engines' bin directory; refuses with the fix when they are not built yet."""
    explicit = os.environ.get("SPARKSTACK_ENGINES_BIN")
    if explicit:
        return Path(explicit)
    done = subprocess.run([str(ROOT / "scripts/build-engines.sh"), "--print"], capture_output=True, text=True)
    if done.returncode != 0:
        raise CannotStartError("local-cluster: the engines are not built yet: run scripts/build-engines.sh first "
                                  "(about 31 minutes the first time on 2 cores)")
    return Path(done.stdout.strip())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"local-cluster: {message}", file=sys.stderr, flush=True)


@dataclass
class State:
    """The files of one running cluster."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def processes(self) -> Path:
        return self.root / "processes.json"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kubeconfig_for("admin")

    def kubeconfig_for(self, user: str) -> Path:
        return self.root / f"{user}.kubeconfig"

    def recorded(self) -> list[dict]:
        return json.loads(self.processes.read_text()) if self.processes.exists() else []

    def record(self, name: str, pid: int, argv: list[str]) -> None:
        entries = self.recorded()
        entries.append({"name": name, "pid": pid, "exe": argv[0]})
        tmp = self.processes.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1))
        tmp.replace(self.processes)


def alive(entry: dict) -> bool:
    """The recorded process is still the one we started (same id, same program), not a reused id."""
    try:
        cmdline = Path(f"/proc/{entry['pid']}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and Path(cmdline[0].decode(errors="replace")).name == Path(entry["exe"]).name


def spawn(state: State, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start one process in its own session (a terminal's Ctrl-C does not reach it), logging to logs/<name>.log."""
    log = open(state.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps the file
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, env=env, cwd=state.root)
    state.record(name, process.pid, argv)
    return process


def _wait_port(name: str, port: int, process: subprocess.Popen, state: State, timeout: float = 60) -> None:
    def up() -> bool:
        if process.poll() is not None:
            tail = (state.logs / f"{name}.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"local-cluster: {name} exited with {process.returncode}:\n{tail}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    wait_until(f"{name} on 127.0.0.1:{port}", up, timeout, 0.2)


def _write_kubeconfigs(state: State, server: str) -> None:
    ca = (state.pki / "ca.crt").read_bytes()
    for user in CLIENTS:
        text = kubeconfig(server, ca, {
            "client-certificate-data": _b64(state.pki / f"{user}.crt"),
            "client-key-data": _b64(state.pki / f"{user}.key"),
        })
        path = state.kubeconfig_for(user)
        path.write_text(text)
        path.chmod(0o600)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def start(state: State, with_operator: bool) -> None:
    running = [entry for entry in state.recorded() if alive(entry)]
    if running:
        names = ", ".join(f"{e['name']} ({e['pid']})" for e in running)
        raise CannotStartError(f"local-cluster: already running in {state.root}: {names}; "
                               "run `scripts/local-cluster.sh stop` first")
    bin_dir = engines_bin()
    if state.root.exists():
        shutil.rmtree(state.root)
    state.logs.mkdir(parents=True)
    state.root.chmod(0o700)
    started = time.monotonic()
    try:
        _start_control_plane(state, bin_dir)
        if with_operator:
            _start_operator_host(state, bin_dir)
    except BaseException:
        say(f"start failed; stopping what was started (logs kept in {state.logs})")
        _stop_processes(state)
        raise
    say(f"ready in {time.monotonic() - started:.0f} s (state and logs in {state.root})")
    print(f"export KUBECONFIG={state.admin_kubeconfig}")
    print(f"export PATH={bin_dir}:$PATH")


def _component_flags(state: State, user: str) -> list[str]:
    """What the controller-manager and the scheduler share: their own user for the API and for checking callers,
    serving on a free loopback port, and no leader election (one of each)."""
    config = state.kubeconfig_for(user)
    return [f"--kubeconfig={config}", f"--authentication-kubeconfig={config}", f"--authorization-kubeconfig={config}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", f"--cert-dir={state.root / f'{user}-certs'}",
            "--leader-elect=false"]


def _start_control_plane(state: State, bin_dir: Path) -> None:
    say("certificates")
    make_pki(state.pki, CLIENTS)
    pki = state.pki
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()

    say(f"etcd on 127.0.0.1:{etcd_port}")
    etcd = spawn(state, "etcd", [str(bin_dir / "etcd"), f"--data-dir={state.root / 'etcd'}",
                                 f"--listen-client-url=http://127.0.0.1:{etcd_port}",
                                 f"--listen-peer-url=http://127.0.0.1:{peer_port}"])
    _wait_port("etcd", etcd_port, etcd, state)

    say(f"kube-apiserver on https://127.0.0.1:{api_port}")
    apiserver = spawn(state, "kube-apiserver", [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
        f"--cert-dir={state.root / 'apiserver-certs'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--authorization-mode=RBAC",
        # Pod Security admission is in the default plugin set. Webhooks are called at their Service's ClusterIP,
        # as in any cluster (k8s cmd/kube-apiserver/app/server.go, buildServiceResolver); ClusterIPs come from a
        # loopback range, so that call reaches the webhook the operator host runs here.
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--allow-privileged=false", "--profiling=false",
    ])
    _wait_port("kube-apiserver", api_port, apiserver, state)
    server = f"https://127.0.0.1:{api_port}"
    _write_kubeconfigs(state, server)
    kube = Kube.from_kubeconfig(state.admin_kubeconfig)
    wait_until("the API server to be ready", lambda: kube.raw("GET", "/readyz") == b"ok", 120)

    say("kube-controller-manager, kube-scheduler")
    spawn(state, "kube-controller-manager", [
        str(bin_dir / "kube-controller-manager"), *_component_flags(state, "controller-manager"),
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
    ])
    spawn(state, "kube-scheduler", [str(bin_dir / "kube-scheduler"), *_component_flags(state, "scheduler")])

    say(f"kwok with one fake node ({NODE_NAME})")
    kube.apply(f"/api/v1/nodes/{NODE_NAME}", {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE_NAME, "labels": {NODE_LABEL[0]: NODE_LABEL[1],
                                                   "kubernetes.io/hostname": NODE_NAME,
                                                   "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
                     "annotations": {"kwok.x-k8s.io/node": "fake"}},
    })
    spawn(state, "kwok", [
        str(bin_dir / "kwok"), f"--kubeconfig={state.kubeconfig_for('kwok')}", f"--config={STAGES}",
        f"--manage-nodes-with-label-selector={NODE_LABEL[0]}={NODE_LABEL[1]}",
        "--node-ip=127.0.0.1", f"--cidr={POD_CIDR}", f"--server-address=127.0.0.1:{free_port()}",
        # Renew the node's Lease, its heartbeat: without one the node controller marks the node, and its pods, not
        # ready after about 50 s.
        "--node-lease-duration-seconds=40",
    ])

    def node_ready() -> bool:
        node = kube.get(f"/api/v1/nodes/{NODE_NAME}") or {}
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))
    wait_until("the fake node to be Ready", node_ready, 60)
    _storage(kube, state)
    # The scheduler and the namespace controllers are up once `default` has its ServiceAccount.
    wait_until("the default ServiceAccount", lambda: kube.get("/api/v1/namespaces/default/serviceaccounts/default"), 60)


def _storage(kube: Kube, state: State) -> None:
    """A default StorageClass with a few pre-made volumes, as kind's local-path provisioner would give: the
    PersistentVolume controller binds a claim to one of them (Immediate binding, so Pulumi's await sees Bound)."""
    kube.apply(f"/apis/storage.k8s.io/v1/storageclasses/{STORAGE_CLASS}", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate",
        "reclaimPolicy": "Retain",
    })
    for index in range(VOLUMES):
        name = f"local-volume-{index}"
        kube.apply(f"/api/v1/persistentvolumes/{name}", {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"storageClassName": STORAGE_CLASS, "capacity": {"storage": "50Gi"},
                     "accessModes": ["ReadWriteOnce", "ReadWriteMany"], "persistentVolumeReclaimPolicy": "Retain",
                     "hostPath": {"path": str(state.root / "volumes" / name), "type": "DirectoryOrCreate"}},
        })


def _start_operator_host(state: State, bin_dir: Path) -> None:
    say("operator host: runs the Spark Operator's controller and webhook once its chart is installed")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    spawn(state, "operator-host", [sys.executable, "-m", "tools.engines.operator_host",
                                   f"--state={state.root}", f"--operator={bin_dir / 'spark-operator'}"],
          env={**env, "PYTHONPATH": str(ROOT)})


def _stop_processes(state: State) -> list[str]:
    """SIGTERM every recorded process still ours (newest first), then SIGKILL what is left after 10 s."""
    entries = [entry for entry in reversed(state.recorded()) if alive(entry)]
    for entry in entries:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(entry["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(entry) for entry in entries):
        time.sleep(0.2)
    for entry in entries:
        if alive(entry):
            os.killpg(entry["pid"], signal.SIGKILL)
    return [f"{entry['name']} ({entry['pid']})" for entry in entries]


def stop(state: State) -> None:
    if not state.root.exists():
        say(f"nothing to stop ({state.root} does not exist)")
        return
    stopped = _stop_processes(state)
    shutil.rmtree(state.root)
    say(f"stopped {', '.join(stopped) or 'nothing (no process was still running)'}; removed {state.root}")


EXAMPLE = 'eval "$(sparkstack cluster start --operator)" && kubectl get nodes; sparkstack cluster stop'


_STATE_HELP = "state directory (default: $SPARKSTACK_CLUSTER_DIR or ~/.cache/sparkstack/local-cluster)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", type=Path, default=None, help=_STATE_HELP)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{start,stop}")
    start_parser = verbs.add_parser("start", help="start the control plane and kwok; print exports for eval")
    start_parser.add_argument("--operator", action="store_true",
                              help="also run the Spark Operator's controller and webhook once its chart is installed")
    stop_parser = verbs.add_parser("stop", help="stop what start started and remove the state")
    for verb in (start_parser, stop_parser):  # --state before or after the verb; SUPPRESS keeps one given before
        verb.add_argument("--state", type=Path, default=argparse.SUPPRESS, help=_STATE_HELP)


def run(args: argparse.Namespace) -> int:
    state = State(args.state or default_state_dir())
    if args.verb == "start":
        try:
            start(state, args.operator)
        except CannotStartError as err:
            print(err, file=sys.stderr)
            return BAD_INPUT
    else:
        stop(state)
    return 0


def main(argv: list[str] | None = None) -> int:
    """scripts/local-cluster.sh: the same as `sparkstack cluster`."""
    parser = argparse.ArgumentParser(
        prog="scripts/local-cluster.sh", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  eval \"$(scripts/local-cluster.sh start --operator)\" && kubectl get nodes")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
