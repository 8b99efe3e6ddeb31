"""hadoop-aws and the AWS SDK v2 modules it needs, fetched once per machine, for reading ``s3a://`` in local mode.

The pyspark wheel carries Hadoop 3.4.1's client (hadoop-client-api/-runtime) but not its S3A connector. hadoop-aws
3.4.1 declares the whole SDK ``bundle`` (2.24.6, about 558 MB); S3A needs only the S3 client and the transfer
manager (``S3AFileSystem.initialize`` fails with ``NoClassDefFoundError:
software/amazon/awssdk/transfer/s3/model/ObjectTransfer`` without the latter, settled by running). So the bundle is
excluded and ``s3-transfer-manager`` pulls in the S3 client and the modules under it. The transfer manager was not
published at 2.24.6, the version hadoop-aws 3.4.1 was built with; 2.24.8 is the nearest later release, and all
SDK modules resolve to it.

Resolution is Apache Ivy's (the ivy jar in the pyspark wheel, as ``spark.jars.packages`` uses it), run once. Ivy
checks each download against the repository's SHA-1 (``ivy.checksums=sha1,md5``, the default in ivy-2.5.3.jar's
org/apache/ivy/core/settings/ivy.properties); the versions are the ones below and those the poms pin. The jars
are copied to ``~/.cache/sparkstack/s3a-jars/<key>/`` (``$SPARKSTACK_S3A_JARS`` overrides the parent folder;
``<key>`` changes with the coordinates). Later calls only list that folder, so a Spark session starts with
``spark.jars`` and no resolution (Ivy's resolution at every start, through ``spark.jars.packages``, cost 8 s here).

    .venv/bin/python -m tools.dev.s3a_jars      # fetch (if needed) and print the jars, comma-separated
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra import versions

HADOOP_AWS = tuple(versions.HADOOP_AWS.split(":"))  # = the wheel's hadoop-client-api
SDK_TRANSFER_MANAGER = ("software.amazon.awssdk", "s3-transfer-manager", "2.24.8")
EXCLUDED = ("software.amazon.awssdk", "bundle")
_DONE = ".complete"

_IVY_XML = """<ivy-module version="2.0">
  <info organisation="sparkstack" module="s3a-jars"/>
  <dependencies>
    <dependency org="{0[0]}" name="{0[1]}" rev="{0[2]}" conf="default->default">
      <exclude org="{2[0]}" module="{2[1]}"/>
    </dependency>
    <dependency org="{1[0]}" name="{1[1]}" rev="{1[2]}" conf="default->default"/>
  </dependencies>
</ivy-module>
"""


class FetchError(RuntimeError):
    """The jars could not be fetched; the message has Ivy's last lines."""


def cache_dir() -> Path:
    base = os.environ.get("SPARKSTACK_S3A_JARS")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sparkstack"
    key = hashlib.sha256(ivy_xml().encode()).hexdigest()[:12]
    return (root if base else root / "s3a-jars") / key


def ivy_xml() -> str:
    return _IVY_XML.format(HADOOP_AWS, SDK_TRANSFER_MANAGER, EXCLUDED)


def _ivy_jar() -> Path:
    import pyspark

    found = sorted((Path(pyspark.__file__).parent / "jars").glob("ivy-*.jar"))
    if not found:
        raise FetchError("no ivy-*.jar in the pyspark wheel's jars folder")
    return found[-1]


def jars(fetch: bool = True) -> list[Path]:
    """The jars to put on ``spark.jars``; fetched first when this machine has none yet (unless ``fetch`` is off)."""
    target = cache_dir()
    if not (target / _DONE).exists():
        if not fetch:
            return []
        _fetch(target)
    return sorted(target.glob("*.jar"))


def _fetch(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as work:
        spec = Path(work) / "ivy.xml"
        spec.write_text(ivy_xml())
        retrieved = Path(work) / "jars"
        command = ["java", "-cp", str(_ivy_jar()), "org.apache.ivy.Main", "-ivy", str(spec), "-confs", "default",
                   "-cache", f"{work}/cache", "-retrieve", f"{retrieved}/[organisation]_[artifact]-"
                   "[revision](-[classifier]).[ext]", "-types", "jar", "bundle", "-warn"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        found = sorted(retrieved.glob("*.jar"))
        if done.returncode != 0 or not any(p.name.startswith("org.apache.hadoop_hadoop-aws-") for p in found):
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise FetchError(f"Ivy could not fetch hadoop-aws and the AWS SDK modules (exit {done.returncode}):\n"
                             f"{tail}")
        if target.exists():  # a half-finished earlier attempt
            shutil.rmtree(target)
        retrieved.rename(target)
    (target / _DONE).write_text("".join(f"{p.name}\n" for p in found))


def main() -> int:
    try:
        found = jars()
    except FetchError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(",".join(str(p) for p in found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
