"""One application image as a Pulumi component: the rendered Dockerfile built with pulumi-docker-build, then loaded
into kind's nodes or pushed to the configured registry, and the reference applications run it by.

On an existing cluster the reference is `<repository>@<digest>` (the digest the registry holds, so the pods run
exactly the bytes built). On kind it is `<repository>:<content tag>`: an image loaded with `kind load` has no
registry digest, and the tag changes exactly when the Dockerfile or a file it copies changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker_build as docker_build

from infra.config import JOBS_DIR
from infra.config_images import REQUIREMENTS_DIR, ImageConfig
from infra.conventions import SCRIPTS_MOUNT
from infra.images.dockerfile import content_tag, context_files, render_dockerfile
from infra.images.kind_load import KindImageLoad

LOCAL_REPOSITORY = "sparkstack"


@dataclass(frozen=True)
class ImageArgs:
    config: ImageConfig
    jobs: Mapping[str, bytes]  # jobs/*.py by file name: baked into the image
    kind_cluster: pulumi.Input[str] | None = None  # the kind cluster's name; None on an existing cluster
    registry_credentials: pulumi.Output[dict] | None = None  # secret {username, password} for the push


def registry_host(repository: str) -> str:
    """The registry part of a repository ('registry.example.com/data/etl' -> 'registry.example.com')."""
    first = repository.split("/", 1)[0]
    return first if "." in first or ":" in first or first == "localhost" else "docker.io"


class ApplicationImage(pulumi.ComponentResource):
    """`ref` is what SparkApplications name; `ready` what their creation waits for; `dockerfile` and `tag` show in
    the offline plan."""

    ref: pulumi.Output[str]
    dockerfile: str
    tag: str

    def __init__(self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sparkstack:images:ApplicationImage", name, None, opts)
        cfg = args.config
        self.dockerfile = render_dockerfile(name, cfg, SCRIPTS_MOUNT)
        requirements = (REQUIREMENTS_DIR / cfg.requirements).read_bytes() if cfg.requirements else None
        self.tag = content_tag(self.dockerfile, context_files(cfg, args.jobs, requirements))
        repository = cfg.repository or f"{LOCAL_REPOSITORY}/{name}"
        tagged = f"{repository}:{self.tag}"
        push = args.kind_cluster is None
        registries = []
        if push and args.registry_credentials is not None:
            registries.append(docker_build.RegistryArgs(
                address=registry_host(repository),
                username=args.registry_credentials.apply(lambda c: c["username"]),
                password=pulumi.Output.secret(args.registry_credentials.apply(lambda c: c["password"]))))
        image = docker_build.Image(
            name,
            context=docker_build.BuildContextArgs(location=str(JOBS_DIR)),
            dockerfile=docker_build.DockerfileArgs(inline=self.dockerfile),
            tags=[tagged],
            platforms=[docker_build.Platform.LINUX_AMD64],
            push=push,
            load=not push,  # into the local engine, for `kind load`
            registries=registries or None,
            # A PR preview has no Docker engine; the plan shows the Dockerfile and tag instead.
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ready: list[pulumi.Resource] = [image]
        if push:
            self.ref = image.digest.apply(lambda digest: f"{repository}@{digest}")
        else:
            loaded = KindImageLoad(f"{name}-kind-load", tagged, args.kind_cluster,
                                   opts=pulumi.ResourceOptions(parent=self, depends_on=[image]))
            self.ready.append(loaded)
            self.ref = pulumi.Output.from_input(tagged)
        self.register_outputs({"ref": self.ref, "tag": self.tag})
