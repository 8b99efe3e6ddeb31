"""The Dockerfile of an application image, rendered from `sparkstack:images.<name>`, and its content tag.

Two stages: `python-deps` installs the hash-locked requirements with pip (as the base's user, into a folder of
their own), and the final stage starts again from the same pinned base, so pip and its caches never ship. Jars are
fetched by BuildKit (`ADD --checksum`), which refuses a file whose SHA-256 differs: they are resolved when the image
is built, never in a pod or in the operator. The job scripts are copied in, and the image runs as the Spark user.

The build context is `jobs/`: the scripts and `requirements/<file>` are all it needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from infra.config_images import ImageConfig
from infra.conventions import SPARK_UID

# Where the baked-in scripts go: the same path as the scripts ConfigMap's mount (infra/conventions.py), so a
# script's local:// URI is the same whichever way it arrives.
PYTHON_PACKAGES = "/opt/sparkstack/python"
BUILD_PACKAGES = "/tmp/sparkstack-python"
SPARK_JARS = "/opt/spark/jars"
DOCKERFILE_SYNTAX = "docker/dockerfile:1.10"


def render_dockerfile(name: str, image: ImageConfig, jobs_mount: str) -> str:
    """The Dockerfile text; the same config always gives the same text (it is part of the content tag)."""
    lines = [
        f"# syntax={DOCKERFILE_SYNTAX}",
        f"# sparkstack image '{name}', rendered from sparkstack:images.{name} by infra/images/dockerfile.py.",
    ]
    if image.requirements:
        lines += [
            "",
            "# Python packages: pip runs here only (as the base's non-root user, into /tmp); the final stage takes",
            "# the installed folder.",
            f"FROM {image.base} AS python-deps",
            f"COPY requirements/{image.requirements} /tmp/requirements.txt",
            "RUN python3 -m pip install --no-cache-dir --require-hashes --only-binary=:all: "
            f"--target {BUILD_PACKAGES} -r /tmp/requirements.txt",
        ]
    lines += ["", f"FROM {image.base}"]
    for jar in image.jars:
        # A downloaded file is written with mode 600 and owned by root: 0644 lets the Spark user read it.
        lines.append(f"ADD --checksum=sha256:{jar.sha256} --chmod=0644 {jar.url(image.maven_repository)} "
                     f"{SPARK_JARS}/{jar.file_name}")
    if image.requirements:
        lines += [f"COPY --from=python-deps {BUILD_PACKAGES} {PYTHON_PACKAGES}",
                  # Spark 4.0.4 adds the environment's PYTHONPATH to the driver's Python (PythonRunner) and the
                  # executors' workers (PythonWorkerFactory): both call mergePythonPaths with sys.env("PYTHONPATH").
                  f"ENV PYTHONPATH={PYTHON_PACKAGES}"]
    lines += [f"COPY *.py {jobs_mount}/", f"USER {SPARK_UID}", ""]
    return "\n".join(lines)


def content_tag(dockerfile: str, context_files: Mapping[str, bytes]) -> str:
    """A tag that changes exactly when the image's inputs change: the Dockerfile and every file it copies."""
    digest = hashlib.sha256(dockerfile.encode())
    for path in sorted(context_files):
        digest.update(f"\0{path}\0{len(context_files[path])}\0".encode())
        digest.update(context_files[path])
    return digest.hexdigest()[:20]


def context_files(image: ImageConfig, jobs: Mapping[str, bytes], requirements: bytes | None) -> dict[str, bytes]:
    """The files of the build context the Dockerfile reads, by their path in the context."""
    files = {script: body for script, body in jobs.items()}
    if image.requirements and requirements is not None:
        files[f"requirements/{image.requirements}"] = requirements
    return files
