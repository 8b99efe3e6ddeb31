"""The config of `sparkstack:images`: the application images the stack builds (infra/images/ builds them).

Kept apart from `infra/config.py` (every other section's model) because an image is its own concern: a pinned
base, hash-locked Python requirements and checksummed jars, each with its rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field

from infra.config import JOBS_DIR, PROJECT_DIR, Model, Problem
from infra.values import PinnedImage, check_dns_label, image_spark_version
from infra.versions import MAVEN_REPOSITORY, SPARK_IMAGE

_COORDINATES = re.compile(r"([A-Za-z0-9_.-]+):([A-Za-z0-9_.-]+):([A-Za-z0-9_.+-]+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_JAVA_TAG = re.compile(r"java([0-9]+)")
_REPOSITORY = re.compile(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)+")
REQUIREMENTS_DIR = JOBS_DIR / "requirements"
_HASHED = re.compile(r"--hash=sha256:[0-9a-f]{64}")


class JarConfig(Model):
    """A jar fetched when the image is built, never in a pod: Maven coordinates and the jar's sha256."""

    coordinates: str
    sha256: str

    def problems(self, prefix: str) -> Iterator[Problem]:
        if not _COORDINATES.fullmatch(self.coordinates):
            yield Problem(f"{prefix}.coordinates", "write Maven coordinates 'group:artifact:version', e.g. "
                          "'org.apache.hadoop:hadoop-aws:3.4.1'", self.coordinates)
        if not _SHA256.fullmatch(self.sha256):
            yield Problem(f"{prefix}.sha256", "write the jar's SHA-256 as 64 lowercase hex digits (`sha256sum "
                          "the.jar`, or the .sha256 file beside it in the repository)", self.sha256)

    @property
    def file_name(self) -> str:
        _group, artifact, version = self.coordinates.split(":")
        return f"{artifact}-{version}.jar"

    def url(self, repository: str) -> str:
        group, artifact, version = self.coordinates.split(":")
        return f"{repository}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"


def requirements_problem(path: Path) -> str | None:
    """A requirements file is usable when every requirement is pinned with `==` and carries a sha256 hash (what
    `pip install --require-hashes` demands; `uv pip compile --generate-hashes` writes such files)."""
    if not path.is_file():
        return f"there is no {path.relative_to(PROJECT_DIR)}; write a hash-locked requirements file there"
    text = path.read_text().replace("\\\n", " ")
    requirements = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("#", "-"))]
    if not requirements:
        return f"{path.relative_to(PROJECT_DIR)} lists no requirement; remove the key or add requirements"
    for line in requirements:
        if "==" not in line.split(";")[0] or not _HASHED.search(line):
            name = line.split()[0]
            return (f"{name} in {path.relative_to(PROJECT_DIR)} is not pinned with '==' and a --hash=sha256:...; "
                    "lock the file with hashes, e.g. `uv pip compile --generate-hashes`")
    return None


class ImageConfig(Model):
    """An application image the stack builds: a pinned Spark base (Java 17), the jobs' Python requirements and
    jars baked in, the job scripts, the non-root Spark user (infra/images/)."""

    base: PinnedImage = SPARK_IMAGE
    # A hash-locked requirements file under jobs/requirements/ (e.g. 'etl.txt'); none: no Python packages.
    requirements: str | None = None
    jars: list[JarConfig] = Field(default_factory=list)
    maven_repository: str = MAVEN_REPOSITORY
    # Where the image is pushed (an existing cluster pulls it from there); on kind it is loaded into the nodes.
    repository: str | None = None

    def problems(self, name: str, spark_version: str, cluster_kind: str) -> Iterator[Problem]:
        prefix = f"images.{name}"
        try:
            check_dns_label(name)
        except ValueError as exc:
            yield Problem(prefix, str(exc), name)
        tagged = image_spark_version(self.base)
        if tagged is not None and tagged != spark_version:
            yield Problem(f"{prefix}.base", f"its tag names Spark {tagged} but spark.version is {spark_version}; "
                          f"use e.g. '{SPARK_IMAGE}'", self.base)
        java = _JAVA_TAG.search(self.base.partition("@")[0].rsplit(":", 1)[-1] if ":" in self.base else "")
        if java and java.group(1) != "17":
            yield Problem(f"{prefix}.base", f"names Java {java.group(1)}; the stack's jobs are built and tested on "
                          "Java 17; use a java17 variant", self.base)
        if self.requirements is not None:
            path = REQUIREMENTS_DIR / self.requirements
            if "/" in self.requirements or not self.requirements.endswith(".txt"):
                yield Problem(f"{prefix}.requirements", "name a .txt file directly in jobs/requirements/, e.g. "
                              f"'{name}.txt'", self.requirements)
            elif problem := requirements_problem(path):
                yield Problem(f"{prefix}.requirements", problem, self.requirements)
        for i, jar in enumerate(self.jars):
            yield from jar.problems(f"{prefix}.jars.{i}")
        if not self.maven_repository.startswith("https://"):
            yield Problem(f"{prefix}.mavenRepository", "must be an https:// URL", self.maven_repository)
        if self.repository is not None and not _REPOSITORY.fullmatch(self.repository):
            yield Problem(f"{prefix}.repository", "write a repository without tag or digest, e.g. "
                          "'registry.example.com/data/spark-etl'", self.repository)
        if cluster_kind == "existing" and self.repository is None:
            yield Problem(f"{prefix}.repository", "an existing cluster pulls images from a registry; set the "
                          "repository to push to, e.g. 'registry.example.com/data/spark-etl' (credentials: secret "
                          "sparkstack:registryCredentials)", show_got=False)
