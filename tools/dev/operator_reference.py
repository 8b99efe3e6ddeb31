"""Lay out the Spark Operator v2.5.2 reference the conformance tests read, from its published sources.

Our own CI has it beside the repository (`../shared/reference/`); a GitHub runner does not, and under `CI=true` a
missing reference fails the tests (tests/reference.py). This builds the same folder from what the project publishes:

- `crds/` and `chart/values.yaml`, `chart/Chart.yaml`: from the Helm chart tarball `spark-operator-2.5.2.tgz`
  that the chart repository's index points to (the GitHub release asset of tag v2.5.2, uploaded by the
  operator's release workflow, `.github/workflows/release.yaml` at v2.5.2);
- `examples/`: the chart does not ship them; they come from the Go module
  `github.com/kubeflow/spark-operator/v2@v2.5.2` (`go mod download` checks the module against the h1: hash in
  tools/engines/go/operator/go.sum, which the Go checksum database vouches for).

Every file laid out is checked against a SHA-256 pinned below. The pins are of the files, not of the tarball: they
were computed from the Go module at v2.5.2 and are equal to `../shared/reference` (tests/test_operator_reference.py
asserts that). `helm package` copies values.yaml, crds/ and templates byte for byte but re-serialises Chart.yaml
(helm v3.18 `chartutil.writeTarContents`), so Chart.yaml is checked by its name and version instead. The
tarball's own SHA-256 could not be verified from this machine (the release asset cannot be downloaded here);
third parties report 762be5b8632ecfe12eb20fff54450ddae0427f09506422107c508a0d1d38655b, and some report that the
repository index's digest differs from the asset (the operator's release runs `helm package` twice). So the
tarball's digest is printed, not enforced: the file pins cover every byte the tests read.

    python3 -m tools.dev.operator_reference DEST [--chart FILE.tgz] [--module-dir DIR]

Standard library only, so it runs before any virtualenv exists. Nothing is written to DEST unless every file
matches; an existing DEST is replaced only then.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = "2.5.2"
CHART_URL = f"https://github.com/kubeflow/spark-operator/releases/download/v{VERSION}/spark-operator-{VERSION}.tgz"
MODULE = f"github.com/kubeflow/spark-operator/v2@v{VERSION}"
# The wrapper module whose go.sum pins the operator's module hash (the real-engine build uses it too).
GO_MODULE_DIR = ROOT / "tools" / "engines" / "go" / "operator"
MAX_CHART_BYTES = 16 * 1024 * 1024

# Laid-out path -> SHA-256, computed from the Go module at v2.5.2 (charts/spark-operator-chart/, examples/).
CHART_PINS = {
    "crds/sparkoperator.k8s.io_scheduledsparkapplications.yaml":
        "5dc6654b2ad9157421ddf177737795420088fbe70338e45602bacf22ce25cc99",
    "crds/sparkoperator.k8s.io_sparkapplications.yaml":
        "ecd9c14fcadb9d5f8ced4c4ee31920548ea53a892e0a69c3e43aa758bfca6d94",
    "chart/values.yaml": "4cb87a38d9b13a936b6a066685c6e5107d27164db46976fc8a5b5fa3af9123c3",
}
EXAMPLE_PINS = {
    f"examples/{name}.yaml": digest
    for name, digest in {
        "spark-pi-configmap": "42f6edcfbd59db7efdd84c9a563fc2a8e5cbc012b3f11541c59d8245ffd81eff",
        "spark-pi-custom-resource": "6718285fc6481aac98f5e1ec4b082ce567121ee4a4fef608f2e47af618466041",
        "spark-pi-dynamic-allocation": "5bd1e533727e44309cae68696ef08b1da2dcc412f03accbfa8e3a45fa8f3626a",
        "spark-pi-emptydir": "f060d45a3cc0007a60582a78d1f78a2140632021087642b61ebdc8a20bd5ffc1",
        "spark-pi-kube-scheduler": "5dd384903fe68bd5f61fe295c3102a82be6327a57dbafac9361b9f1048154488",
        "spark-pi-pod-template": "154539adc1e88576db0559be3c96b2d448d9058dbacf11316be8ad70b0dba923",
        "spark-pi-prometheus-servlet": "b06c41afd575e3102190e409d2b05aa7c650e9c8712ba6730b6a842c6eca511c",
        "spark-pi-prometheus": "ac88c84081fa1378fee95804f495aad220db3f58a1f2731d11513054c5833d8f",
        "spark-pi-python": "be53f9693557aa18069808beb8e8132d6b9e990e1d278f26077f1ef10de1b9f7",
        "spark-pi-scheduled": "08fafaba2e5c984220e8b226572b33b623d665fa8ec994f608ea00c4fc1c90e9",
        "spark-pi-ttl": "3beda29099261bd409dbca1b93a6e5e14ecb02a84c9afe0b5f7b8aadcd3bbccc",
        "spark-pi-volcano": "681ed9ba20588aa3dcb9e040c6c478056ee11fc5fc3539f9d6a8fbb7588a0c7c",
        "spark-pi-yunikorn": "9c5bd62ff36e407d19dc945d5e6c9a367a014835d1ac701eb8ec6dbe9d23b64c",
        "spark-pi": "83e0139adfd6401d9fcd9b769ecd2d407a2c6fefbd42a0c48855d3a71ec51234",
    }.items()
}
# Where each laid-out chart file sits in the tarball (helm packages a chart under its name).
IN_TARBALL = {
    **{name: f"spark-operator/{name}" for name in CHART_PINS if name.startswith("crds/")},
    "chart/values.yaml": "spark-operator/values.yaml",
    "chart/Chart.yaml": "spark-operator/Chart.yaml",
}


class OperatorReferenceError(Exception):
    """A source is missing or a file differs from its pin; nothing was written."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_chart() -> bytes:
    """The published chart tarball, bounded in size (a proxy's error page or a wrong asset fails the pins)."""
    with urllib.request.urlopen(CHART_URL, timeout=120) as response:
        data = response.read(MAX_CHART_BYTES + 1)
    if len(data) > MAX_CHART_BYTES:
        raise OperatorReferenceError(f"{CHART_URL} is larger than {MAX_CHART_BYTES} bytes: not the chart tarball")
    return data


def chart_files(tarball: bytes) -> dict[str, bytes]:
    """The chart files we lay out, read from the tarball (regular files only, by their exact member names)."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            members = {member.name: member for member in archive.getmembers() if member.isfile()}
            for laid_out, member_name in IN_TARBALL.items():
                member = members.get(member_name)
                extracted = archive.extractfile(member) if member else None
                if extracted is None:
                    raise OperatorReferenceError(f"the chart tarball has no {member_name}")
                files[laid_out] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise OperatorReferenceError(f"the chart tarball is not a gzip tar archive ({error})") from error
    return files


def module_dir() -> Path:
    """The operator's Go module folder, downloaded (and hash-checked against our go.sum) by `go mod download`."""
    try:
        result = subprocess.run(["go", "mod", "download", "-json", MODULE], cwd=GO_MODULE_DIR, check=True,
                                capture_output=True, text=True)
    except FileNotFoundError as error:
        raise OperatorReferenceError("the examples come from the operator's Go module: install Go (setup-go) or pass "
                             "--module-dir") from error
    except subprocess.CalledProcessError as error:
        raise OperatorReferenceError(f"go mod download {MODULE} failed: {error.stderr.strip()}") from error
    return Path(json.loads(result.stdout)["Dir"])


def example_files(module: Path) -> dict[str, bytes]:
    files = {}
    for laid_out in EXAMPLE_PINS:
        path = module / laid_out
        if not path.is_file():
            raise OperatorReferenceError(f"the operator's module at {module} has no {laid_out}")
        files[laid_out] = path.read_bytes()
    return files


def check(files: dict[str, bytes]) -> None:
    """Every pinned file present and equal to its pin; Chart.yaml names chart spark-operator at VERSION."""
    problems = [f"{name}: sha256 {sha256(files[name])}, pinned {digest}"
                for name, digest in {**CHART_PINS, **EXAMPLE_PINS}.items() if sha256(files[name]) != digest]
    chart = files["chart/Chart.yaml"].decode("utf-8", "replace")
    for key, want in (("name", "spark-operator"), ("version", VERSION)):
        if not re.search(rf"^{key}:\s*['\"]?{re.escape(want)}['\"]?\s*$", chart, re.MULTILINE):
            problems.append(f"chart/Chart.yaml: {key} is not {want}")
    if problems:
        raise OperatorReferenceError("the operator reference differs from its pins (tools/dev/operator_reference.py); "
                             "nothing was written:\n  " + "\n  ".join(problems))


def lay_out(files: dict[str, bytes], dest: Path) -> None:
    """Write into a fresh folder beside DEST, then swap it in: a failed run leaves a previous DEST as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)


def build(dest: Path, chart: Path | None = None, module: Path | None = None) -> str:
    """Fetch (or read), check and lay out the reference; return the chart tarball's SHA-256 for the log."""
    tarball = chart.read_bytes() if chart else download_chart()
    files = {**chart_files(tarball), **example_files(module or module_dir())}
    check(files)
    lay_out(files, dest)
    return sha256(tarball)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("dest", type=Path, help="folder to create (point SPARK_OPERATOR_REFERENCE at it)")
    parser.add_argument("--chart", type=Path, help=f"a local spark-operator-{VERSION}.tgz instead of downloading")
    parser.add_argument("--module-dir", type=Path, help=f"a local copy of {MODULE} instead of go mod download")
    args = parser.parse_args(argv)
    try:
        digest = build(args.dest, args.chart, args.module_dir)
    except (OperatorReferenceError, OSError) as error:
        print(f"operator reference: {error}", file=sys.stderr)
        return 1
    print(f"operator reference {VERSION}: {len(CHART_PINS) + len(EXAMPLE_PINS) + 1} files checked, in {args.dest} "
          f"(chart tarball sha256 {digest}, not pinned: see tools/dev/operator_reference.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
