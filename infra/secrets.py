"""Secret configuration (kubeconfig, object-store credentials) and the Kubernetes Secret built from it.

Everything here stays a Pulumi secret: encrypted in state, masked in previews and stack outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config import PROJECT
from infra.conventions import object_meta


@dataclass(frozen=True)
class Secrets:
    """Secret config, read as Pulumi secrets so they stay encrypted in state and masked in outputs."""

    kubeconfig: pulumi.Output[str] | None = None
    object_store_credentials: pulumi.Output[dict] | None = None
    # {username, password} for pushing sparkstack:images to their registry (existing clusters).
    registry_credentials: pulumi.Output[dict] | None = None

    @staticmethod
    def load() -> Secrets:
        cfg = pulumi.Config(PROJECT)
        return Secrets(
            kubeconfig=cfg.get_secret("kubeconfig"),
            object_store_credentials=cfg.get_secret_object("objectStoreCredentials"),
            registry_credentials=cfg.get_secret_object("registryCredentials"),
        )


CREDENTIALS_SECRET = "object-store-credentials"
# Read by Hadoop's default AWS credential chain (environment variables) in drivers and executors.
_CREDENTIAL_ENV = {"accessKeyId": "AWS_ACCESS_KEY_ID", "secretAccessKey": "AWS_SECRET_ACCESS_KEY"}


def credentials_secret(creds: pulumi.Output[dict], namespace: pulumi.Input[str],
                       parent: pulumi.Resource, prefix: str = "") -> k8s.core.v1.Secret:
    """Object-store keys for clusters without workload identity (their shape was checked with the config)."""
    return k8s.core.v1.Secret(
        f"{prefix}object-store-credentials",
        metadata=object_meta(CREDENTIALS_SECRET, namespace, "credentials"),
        type="Opaque",
        string_data=pulumi.Output.secret(creds).apply(
            lambda c: {env: c[key] for key, env in _CREDENTIAL_ENV.items()}),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def credentials_env() -> list[dict]:
    return [{"name": env, "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": env}}}
            for env in _CREDENTIAL_ENV.values()]
