"""A small Kubernetes API client on the standard library: enough for the harness and the end-to-end checks
(get, list, create, server-side apply, patch, delete, and a TokenRequest), with credentials from a kubeconfig."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FIELD_MANAGER = "sparkstack-harness"


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass
class Kube:
    server: str
    context: ssl.SSLContext
    token: str | None = None
    _discovery: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Kube:
        """The current context's cluster and user: CA data, client certificate data, or a bearer token."""
        config = yaml.safe_load(path.read_text())
        current = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == current["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == current["user"])
        context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        if "client-certificate-data" in user:
            # ssl loads client certificates from files only: a private folder, removed once they are loaded.
            with tempfile.TemporaryDirectory(prefix="sparkstack-kube-") as folder:
                cert, key = Path(folder) / "client.crt", Path(folder) / "client.key"
                cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
                key.write_bytes(base64.b64decode(user["client-key-data"]))
                context.load_cert_chain(cert, key)
        return cls(cluster["server"], context, user.get("token"))

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> dict[str, Any]:
        payload = self.raw(method, path, body, content_type)
        return json.loads(payload) if payload else {}

    def raw(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> bytes:
        """The response body as sent (health endpoints answer in plain text)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            with contextlib.suppress(ValueError):
                detail = json.loads(detail).get("message", detail)
            raise KubeError(error.code, detail) from None
        return payload

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at `path`, or None when it does not exist."""
        try:
            return self.request("GET", path)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def items(self, path: str) -> list[dict[str, Any]]:
        listed = self.get(path)
        return [] if listed is None else listed.get("items", [])

    def apply(self, path: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply of one object at its own path (e.g. /api/v1/nodes/fake-node)."""
        return self.request("PATCH", f"{path}?fieldManager={FIELD_MANAGER}&force=true",
                            json.dumps(manifest).encode(), "application/apply-patch+yaml")

    def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", path, patch, "application/merge-patch+json")

    def object_path(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> str:
        """The REST path of one object, from API discovery (kind -> resource name, namespaced or not)."""
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if base not in self._discovery:
            resources = self.request("GET", base)["resources"]
            self._discovery[base] = {r["kind"]: r for r in resources if "/" not in r["name"]}  # not subresources
        resource = self._discovery[base].get(kind)
        if resource is None:
            raise KubeError(404, f"the API server serves no {kind} in {api_version}")
        scope = f"/namespaces/{namespace}" if resource["namespaced"] else ""
        return f"{base}{scope}/{resource['name']}/{name}"

    def watch(self, path: str, resource_version: str, seconds: int) -> Iterator[dict[str, Any]]:
        """The watch events of a collection after `resource_version`, for up to `seconds`, in the order the API
        server committed them."""
        req = urllib.request.Request(
            f"{self.server}{path}?watch=1&resourceVersion={resource_version}&timeoutSeconds={seconds}")
        req.add_header("Accept", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, context=self.context, timeout=seconds + 30) as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)

    def service_account_token(self, namespace: str, name: str, seconds: int = 86400) -> str:
        """A token for a ServiceAccount (the TokenRequest API), as `kubectl create token` gets one."""
        review = self.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                              {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": {"expirationSeconds": seconds}})
        return review["status"]["token"]


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; raise TimeoutError naming `what` (and the last error)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, KubeError) as error:
            last = error
        time.sleep(interval)
    detail = f" (last error: {last})" if last else ""
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")


def kubeconfig(server: str, ca: bytes, user: dict[str, str], name: str = "sparkstack-local") -> str:
    """A one-context kubeconfig; `user` holds client-certificate-data/client-key-data or a token."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server,
                                                "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": user}],
    }, sort_keys=False)
