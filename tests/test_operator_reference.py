"""The PR workflow's operator reference (tools/dev/operator_reference.py): its pins are the shared reference's files,
and it lays out exactly those from a chart tarball and a module folder, or nothing at all."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.reference import reference
from tools.dev import operator_reference as tool


def tarball(chart_dir: Path, crd_dir: Path, tamper: str | None = None) -> bytes:
    """A chart tarball laid out as `helm package` writes it (every file under `spark-operator/`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        entries = {f"spark-operator/{p.name}": p for p in (chart_dir / "Chart.yaml", chart_dir / "values.yaml")}
        entries.update({f"spark-operator/crds/{p.name}": p for p in crd_dir.glob("*.yaml")})
        for name, path in entries.items():
            data = path.read_bytes() + (b"# changed\n" if name == tamper else b"")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture()
def operator_reference() -> Path:
    return reference(".", "the PR workflow's operator reference pins")


def test_pins_are_the_shared_reference_files(operator_reference: Path) -> None:
    pins = {**tool.CHART_PINS, **tool.EXAMPLE_PINS}
    assert set(tool.EXAMPLE_PINS) == {f"examples/{p.name}" for p in (operator_reference / "examples").glob("*.yaml")}
    for name, digest in pins.items():
        assert hashlib.sha256((operator_reference / name).read_bytes()).hexdigest() == digest, name


def test_lays_out_the_reference_from_a_chart_tarball_and_the_module(operator_reference: Path, tmp_path: Path) -> None:
    chart = tmp_path / "spark-operator-2.5.2.tgz"
    chart.write_bytes(tarball(operator_reference / "chart", operator_reference / "crds"))
    dest = tmp_path / "ref" / "spark-operator-v2.5.2"
    assert tool.main([str(dest), "--chart", str(chart), "--module-dir", str(operator_reference)]) == 0
    laid_out = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert laid_out == sorted([*tool.CHART_PINS, *tool.EXAMPLE_PINS, "chart/Chart.yaml"])
    for name in laid_out:
        assert (dest / name).read_bytes() == (operator_reference / name).read_bytes(), name


@pytest.mark.parametrize("tamper", ["spark-operator/values.yaml",
                                    "spark-operator/crds/sparkoperator.k8s.io_sparkapplications.yaml"])
def test_a_changed_file_writes_nothing(operator_reference: Path, tmp_path: Path, tamper: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "chart.tgz"
    chart.write_bytes(tarball(operator_reference / "chart", operator_reference / "crds", tamper=tamper))
    dest = tmp_path / "ref"
    dest.mkdir()
    (dest / "previous").write_text("kept")
    assert tool.main([str(dest), "--chart", str(chart), "--module-dir", str(operator_reference)]) == 1
    laid_out_name = tamper.replace("spark-operator/values.yaml", "chart/values.yaml").replace("spark-operator/", "")
    assert f"{laid_out_name}: sha256 " in capsys.readouterr().err
    assert sorted(p.name for p in dest.iterdir()) == ["previous"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.tgz", "ref"]  # no staging folder left behind


def test_a_chart_of_another_version_is_refused(operator_reference: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    chart_dir = tmp_path / "chart"
    shutil.copytree(operator_reference / "chart", chart_dir)
    text = (chart_dir / "Chart.yaml").read_text()
    assert "\nversion: 2.5.2\n" in text
    (chart_dir / "Chart.yaml").write_text(text.replace("\nversion: 2.5.2\n", "\nversion: 2.5.3\n"))
    chart = tmp_path / "chart.tgz"
    chart.write_bytes(tarball(chart_dir, operator_reference / "crds"))
    assert tool.main([str(tmp_path / "ref"), "--chart", str(chart), "--module-dir", str(operator_reference)]) == 1
    assert "chart/Chart.yaml: version is not 2.5.2" in capsys.readouterr().err
    assert not (tmp_path / "ref").exists()
