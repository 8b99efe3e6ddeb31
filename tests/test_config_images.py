"""The rules of `sparkstack:images` (infra/config_images.py) as pure functions: every refusal's full line, and the
jar and requirements rules at their edges. tests/test_images.py runs the same config through the program."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra import config_images
from infra.config_images import ImageConfig, JarConfig, requirements_problem

SHA = "0123456789abcdef" * 4


def lines(image: dict[str, Any], name: str = "etl", kind: str = "kind") -> list[str]:
    return [p.line() for p in ImageConfig.model_validate(image).problems(name, "4.0.4", kind)]


def test_a_plain_image_on_kind_passes() -> None:
    assert lines({}) == []
    assert lines({"base": "apache/spark:4.0.4-scala2.13-java17-python3-ubuntu"}) == []
    assert lines({"base": f"example.com/spark:v1@sha256:{SHA}"}) == []


def test_every_image_refusal_reads_in_full() -> None:
    image = {"base": "apache/spark:3.5.1-java11-python3", "requirements": "etl.in",
             "jars": [{"coordinates": "hadoop-aws.jar", "sha256": SHA.upper()}],
             "mavenRepository": "http://mirror/maven2", "repository": "Example.com/x:1"}
    assert lines(image, name="ETL") == [
        "  sparkstack:images.ETL (got 'ETL'): not a valid Kubernetes name; use at most 63 lowercase letters, digits "
        "and '-', starting and ending with a letter or digit (e.g. 'spark-jobs')",
        "  sparkstack:images.ETL.base (got 'apache/spark:3.5.1-java11-python3'): its tag names Spark 3.5.1 but "
        "spark.version is 4.0.4; use e.g. 'apache/spark:4.0.4-python3'",
        "  sparkstack:images.ETL.base (got 'apache/spark:3.5.1-java11-python3'): names Java 11; the stack's jobs are "
        "built and tested on Java 17; use a java17 variant",
        "  sparkstack:images.ETL.requirements (got 'etl.in'): name a .txt file directly in jobs/requirements/, e.g. "
        "'ETL.txt'",
        "  sparkstack:images.ETL.jars.0.coordinates (got 'hadoop-aws.jar'): write Maven coordinates "
        "'group:artifact:version', e.g. 'org.apache.hadoop:hadoop-aws:3.4.1'",
        f"  sparkstack:images.ETL.jars.0.sha256 (got '{SHA.upper()}'): write the jar's SHA-256 as 64 lowercase hex "
        "digits (`sha256sum the.jar`, or the .sha256 file beside it in the repository)",
        "  sparkstack:images.ETL.mavenRepository (got 'http://mirror/maven2'): must be an https:// URL",
        "  sparkstack:images.ETL.repository (got 'Example.com/x:1'): write a repository without tag or digest, e.g. "
        "'registry.example.com/data/spark-etl'"]


def test_an_existing_cluster_needs_a_repository_to_push_to() -> None:
    assert lines({}, kind="existing") == [
        "  sparkstack:images.etl.repository: an existing cluster pulls images from a registry; set the repository to "
        "push to, e.g. 'registry.example.com/data/spark-etl' (credentials: secret sparkstack:registryCredentials)"]
    assert lines({"repository": "registry.example.com:5000/data/spark-etl"}, kind="existing") == []


@pytest.mark.parametrize(("repository", "ok"), [
    ("registry.example.com/data/spark-etl", True), ("localhost:5000/etl", True), ("r/a/b/c", True),
    ("ghcr.io/o/x_y.z-w", True), ("etl", False), ("r/etl:1", False), ("r/etl@sha256:" + SHA, False),
    ("r/-etl", False), ("r:123456/etl", False),
])
def test_repositories(repository: str, ok: bool) -> None:
    assert (lines({"repository": repository}) == []) is ok


@pytest.mark.parametrize(("base", "java"), [
    ("apache/spark:4.0.4-java21-python3", "21"), ("apache/spark:4.0.4-scala2.13-java8", "8"),
    ("apache/spark:4.0.4-java17", None), ("registry:5000/java21/spark:4.0.4", None), (f"spark@sha256:{SHA}", None),
])
def test_the_java_an_image_tag_names(base: str, java: str | None) -> None:
    found = [ln for ln in lines({"base": base}) if "names Java" in ln]
    assert found == ([f"  sparkstack:images.etl.base (got {base!r}): names Java {java}; the stack's jobs are built "
                      "and tested on Java 17; use a java17 variant"] if java else [])


@pytest.mark.parametrize("requirements", ["sub/etl.txt", "etl", "etl.txt.bak"])
def test_requirements_name_a_txt_file_in_the_folder(requirements: str) -> None:
    assert lines({"requirements": requirements}) == [
        f"  sparkstack:images.etl.requirements (got {requirements!r}): name a .txt file directly in "
        "jobs/requirements/, e.g. 'etl.txt'"]


@pytest.mark.parametrize(("coordinates", "ok"), [
    ("org.apache.hadoop:hadoop-aws:3.4.1", True), ("a:b:1.0+build_2", True), ("a:b", False), ("a:b:c:d", False),
    ("a b:c:1", False), ("a:b:", False),
])
def test_jar_coordinates(coordinates: str, ok: bool) -> None:
    problems = list(JarConfig(coordinates=coordinates, sha256=SHA).problems("p"))
    assert (problems == []) is ok


def test_a_jars_file_and_url_follow_the_maven_layout() -> None:
    jar = JarConfig(coordinates="org.apache.hadoop:hadoop-aws:3.4.1", sha256=SHA)
    assert jar.file_name == "hadoop-aws-3.4.1.jar"
    assert jar.url("https://repo.example/m2") == \
        "https://repo.example/m2/org/apache/hadoop/hadoop-aws/3.4.1/hadoop-aws-3.4.1.jar"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder of our own, so requirements files are written outside the repository."""
    monkeypatch.setattr(config_images, "PROJECT_DIR", tmp_path)
    folder = tmp_path / "jobs" / "requirements"
    folder.mkdir(parents=True)
    return folder


HASH = f"--hash=sha256:{SHA}"


@pytest.mark.parametrize(("text", "problem"), [
    (f"requests==2.32.3 {HASH}\n", None),
    (f"# locked\n--index-url https://x\n\nrequests==2.32.3 \\\n    {HASH}\n", None),
    (f"requests==2.32.3 ; python_version >= '3.9' {HASH}\n", None),
    ("", "jobs/requirements/r.txt lists no requirement; remove the key or add requirements"),
    ("# only a comment\n-r other.txt\n", "jobs/requirements/r.txt lists no requirement; remove the key or add "
                                         "requirements"),
    (f"requests>=2 {HASH}\n", "requests>=2 in jobs/requirements/r.txt is not pinned with '==' and a "
                              "--hash=sha256:...; lock the file with hashes, e.g. `uv pip compile --generate-hashes`"),
    ("requests==2.32.3\n", "requests==2.32.3 in jobs/requirements/r.txt is not pinned with '==' and a "
                           "--hash=sha256:...; lock the file with hashes, e.g. `uv pip compile --generate-hashes`"),
    (f"requests ; extra == 'x' {HASH}\n", "requests in jobs/requirements/r.txt is not pinned with '==' and a "
                                          "--hash=sha256:...; lock the file with hashes, e.g. `uv pip compile "
                                          "--generate-hashes`"),
    (f"requests==2.32.3 --hash=sha256:{SHA[:-1]}\n", "requests==2.32.3 in jobs/requirements/r.txt is not pinned with "
                                                     "'==' and a --hash=sha256:...; lock the file with hashes, e.g. "
                                                     "`uv pip compile --generate-hashes`"),
])
def test_requirements_files_must_be_hash_locked(project: Path, text: str, problem: str | None) -> None:
    (project / "r.txt").write_text(text)
    assert requirements_problem(project / "r.txt") == problem


def test_a_missing_requirements_file(project: Path) -> None:
    assert requirements_problem(project / "r.txt") == (
        "there is no jobs/requirements/r.txt; write a hash-locked requirements file there")


def test_a_requirements_file_that_is_not_there() -> None:
    assert lines({"requirements": "missing.txt"}) == [
        "  sparkstack:images.etl.requirements (got 'missing.txt'): there is no jobs/requirements/missing.txt; write a "
        "hash-locked requirements file there"]
