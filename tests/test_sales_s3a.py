"""The sales ETL reading ``s3a://`` for real: Hadoop's S3A connector (hadoop-aws 3.4.1, the version of the pyspark
wheel's Hadoop client) against a local S3-compatible server (moto, ``s3_endpoint`` in conftest.py).

The job runs in its own process with one Spark session for all runs (tests/s3a_runs.py), because S3A needs jars
the shared ``spark`` session does not carry; its outputs stay local (object stores are refused as outputs) and are
checked against the independent plain-Python computation in tests/sales_reference.py, which reads local copies of
the same objects.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import sales_reference as ref
from tests.job_modules import load_job
from tests.test_sales_etl import DATA, assert_matches

REPO = Path(__file__).resolve().parent.parent
BUCKET = "sales"
generate_data = load_job("generate_data")


@pytest.fixture(scope="module")
def s3a_jars() -> list[Path]:
    """hadoop-aws and the SDK modules it needs, fetched once per machine (tools/dev/s3a_jars.py)."""
    from tools.dev import s3a_jars

    try:
        return s3a_jars.jars()
    except s3a_jars.FetchError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"hadoop-aws could not be fetched: {exc}")


def put(client, key: str, body: bytes, mirror: Path | None, plain: bytes | None = None) -> None:
    """Upload one object; its content as the reference reads it (decompressed) goes to ``mirror``, named by key."""
    client.put_object(Bucket=BUCKET, Key=key, Body=body)
    if mirror is not None:
        (mirror / key.rsplit("/", 1)[-1]).write_bytes(body if plain is None else plain)


@pytest.mark.spark
def test_sales_etl_reads_s3a_input_like_local_files(spark, s3_endpoint: str, s3a_jars: list[Path],
                                                    tmp_path: Path) -> None:
    """Listing (a directory, a glob, one file), gz and plain files, a file under two keys, records spanning lines
    streamed back through Hadoop, damaged gzip found early (on the driver) and late (by the scan), a missing path,
    and the refusal of an s3a:// output."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.create_bucket(Bucket=BUCKET)
    generated, mirror = tmp_path / "generated", tmp_path / "mirror"
    mirror.mkdir()
    generate_data.main(["--output", str(generated), "--files", "2", "--rows-per-file", "3000", "--seed", "7"])
    first, second = ((generated / f"sales_{i}.csv").read_bytes() for i in (0, 1))
    put(client, "in/sales_0.csv", first, mirror)
    put(client, "in/sales_0-again.csv", first, mirror)  # the same bytes under a second key: two objects, both read
    put(client, "in/sales_1.csv.gz", gzip.compress(second), mirror, second)
    for name in ("multiline.csv", "bom.csv", "headerless.csv"):
        put(client, f"in/{name}", (DATA / name).read_bytes(), mirror)
    reordered = (DATA / "header_reordered.csv").read_bytes()  # its layout is known only from its decompressed header
    put(client, "in/header_reordered.csv.gz", gzip.compress(reordered), mirror, reordered)
    for key in ("in/_SUCCESS", "in/.hidden.csv", "in/notes.txt", "in/nested/deep.csv"):  # never read
        put(client, key, b"not,sales\n", None)
    rows = "".join(f"G-{i},Gzip City,Books,1.00,1,2025-01-05\n" for i in range(60_000)).encode()  # 2.4 MB
    packed = gzip.compress(ref.HEADER.encode() + b"\n" + rows)
    put(client, "bad-early/early.csv.gz", packed[:20], None)  # cut inside the first 64 KiB: the driver's head read
    put(client, "bad-late/late.csv.gz", packed[:-50], None)  # cut past the driver's first 1 MiB: the scan finds it

    out = {name: tmp_path / name for name in ("all", "glob", "early", "late", "missing")}
    runs = [
        ["--input", f"s3a://{BUCKET}/in", "--output", str(out["all"]), "--max-reject-ratio", "1"],
        ["--input", f"s3a://{BUCKET}/in/sales_*", "--output", str(out["glob"])],
        ["--input", f"s3a://{BUCKET}/bad-early/early.csv.gz", "--output", str(out["early"])],
        ["--input", f"s3a://{BUCKET}/bad-late", "--output", str(out["late"])],
        ["--input", f"s3a://{BUCKET}/nothing/here", "--output", str(out["missing"])],
        ["--input", f"s3a://{BUCKET}/in", "--output", f"s3a://{BUCKET}/curated/sales"],
    ]
    settings = {
        "spark.jars": ",".join(str(p) for p in s3a_jars),
        "spark.hadoop.fs.s3a.endpoint": s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.access.key": "test",
        "spark.hadoop.fs.s3a.secret.key": "test",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.attempts.maximum": "1",
        "spark.hadoop.fs.s3a.retry.limit": "1",
    }
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"settings": settings, "runs": runs}))
    done = subprocess.run([sys.executable, "-m", "tests.s3a_runs", str(spec)], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "SPARKSTACK_CDS_DIR": "off"})
    assert done.returncode == 0, done.stderr[-3000:]
    everything, glob_run, early, late, missing, refused = json.loads(done.stdout.splitlines()[-1])

    # The directory: every *.csv / *.csv.gz directly in it, each object once under its own key.
    assert everything["code"] == 0, everything["stderr"]
    expected = ref.expected_results(sorted(mirror.iterdir()))
    assert len(expected["files"]) == 7 and expected["rows_read"] > 3 * 3000
    assert_matches(spark, out["all"], expected)
    summary = json.loads((out["all"] / "_summary.json").read_text())
    assert summary["files_read"] == sorted(f"s3a://{BUCKET}/in/{p.name}" for p in mirror.iterdir())
    assert summary["notes"] == []  # objects have no links: no aliases
    assert f"sales-etl: published {out['all']}" in everything["stdout"]

    # A glob, expanded once on the driver.
    assert glob_run["code"] == 0, glob_run["stderr"]
    glob_summary = json.loads((out["glob"] / "_summary.json").read_text())
    assert glob_summary["files_read"] == [f"s3a://{BUCKET}/in/{n}" for n in (
        "sales_0-again.csv", "sales_0.csv", "sales_1.csv.gz")]
    assert glob_summary["rows_read"] == 3 * 3000

    # Damaged gzip, wherever the damage is: one clear error naming the object, exit 2, nothing written.
    for run, key in ((early, "bad-early/early.csv.gz"), (late, "bad-late/late.csv.gz")):
        err = run["stderr"].strip()
        assert run["code"] == 2, err
        assert len(err.splitlines()) == 1 and f"input file s3a://{BUCKET}/{key} cannot be read" in err, err
    assert not out["early"].exists() and not out["late"].exists()

    assert missing["code"] == 2 and f"input path s3a://{BUCKET}/nothing/here does not exist" in missing["stderr"]
    assert refused["code"] == 2
    assert f"--output s3a://{BUCKET}/curated/sales is in an object store" in refused["stderr"]
    assert client.list_objects_v2(Bucket=BUCKET, Prefix="curated").get("KeyCount") == 0


def test_a_failed_jar_fetch_says_what_ivy_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """No jars and no partial folder left behind; the command exits 1 with Java's own words."""
    from tools.dev import s3a_jars

    monkeypatch.setenv("SPARKSTACK_S3A_JARS", str(tmp_path))
    assert s3a_jars.jars(fetch=False) == []
    monkeypatch.setattr(s3a_jars, "_ivy_jar", lambda: tmp_path / "missing-ivy.jar")
    with pytest.raises(s3a_jars.FetchError, match=r"(?s)Ivy could not fetch .*\(exit 1\).*org\.apache\.ivy\.Main"):
        s3a_jars.jars()
    assert s3a_jars.main() == 1 and "Ivy could not fetch" in capsys.readouterr().err
    assert not list(tmp_path.glob("*/*.jar")) and not list(tmp_path.glob(".fetch-*"))


def test_the_connector_is_the_version_of_the_wheels_hadoop() -> None:
    """hadoop-aws must match the Hadoop client it runs with: the pyspark wheel's hadoop-client-api jar."""
    import pyspark

    from tools.dev import s3a_jars

    clients = sorted((Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))
    assert [p.name for p in clients] == [f"hadoop-client-api-{s3a_jars.HADOOP_AWS[2]}.jar"]
