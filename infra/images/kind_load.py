"""`kind load docker-image`: an image built on this machine, put into every node of the kind cluster.

A dynamic resource like the cluster itself (infra/cluster/kind.py explains why the provider is defined inside a
function: dill then pickles its code by value, and the provider process needs nothing from this repository). The
image reference includes the content tag, so a new image is a new load; deleting does nothing (the nodes' images
go with the cluster, and kind has no unload). Built on first use, never at import, for the same reason.
"""

from __future__ import annotations

import functools
from typing import Any

import pulumi
from pulumi.dynamic import ResourceProvider


def _build_provider() -> type[ResourceProvider]:
    import subprocess

    from pulumi.dynamic import CreateResult, DiffResult, UpdateResult

    timeout = 600

    def load(props: dict[str, Any]) -> None:
        argv = [props["kind_path"], "load", "docker-image", props["image"], "--name", props["cluster"]]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"`{' '.join(argv)}` could not run: {exc}") from None
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-10:])
            raise RuntimeError(f"`{' '.join(argv)}` failed (exit {done.returncode}): {tail}")

    class KindImageLoadProvider(ResourceProvider):
        def create(self, props: dict[str, Any]) -> CreateResult:
            load(props)
            return CreateResult(id_=f"{props['cluster']}/{props['image']}", outs=dict(props))

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
            changed = [k for k in ("image", "cluster") if olds.get(k) != news.get(k)]
            return DiffResult(changes=bool(changed) or olds.get("kind_path") != news.get("kind_path"),
                              replaces=changed, delete_before_replace=False)

        def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
            return UpdateResult(outs=dict(news))

        def delete(self, _id: str, _props: dict[str, Any]) -> None:
            return None

    return KindImageLoadProvider


@functools.cache
def provider_class() -> type[ResourceProvider]:
    """The provider class, built once per process on first use (infra/cluster/kind.py says why not at import)."""
    return _build_provider()


class KindImageLoad(pulumi.dynamic.Resource):
    """Load `image` (already in the local Docker engine) into the nodes of kind cluster `cluster`."""

    image: pulumi.Output[str]

    def __init__(self, name: str, image: pulumi.Input[str], cluster: pulumi.Input[str], kind_path: str = "kind",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(provider_class()(), name,
                         {"image": image, "cluster": cluster, "kind_path": kind_path}, opts)
