"""Runs the sales ETL's ``main()`` several times in one local Spark session that reads ``s3a://``, for
tests/test_sales_s3a.py: the session's JVM carries hadoop-aws (``spark.jars``, tools/dev/s3a_jars.py) and the
S3A settings for the test's local S3 server, and is started once for all the runs.

    python -m tests.s3a_runs SPEC.json    SPEC: {"settings": {spark key: value}, "runs": [[argv...], ...]}

Prints one JSON list: per run its exit code and what ``main()`` wrote to stdout and stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

from tests.job_modules import load_job


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    spark_session, etl = load_job("spark_session"), load_job("sales_etl")
    spark_session.launch_jvm(spec["settings"])
    spark = spark_session.start_spark(etl.APP_NAME)  # main() finds this session, reuses it and leaves it running
    results = []
    for argv in spec["runs"]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = etl.main(argv)
        results.append({"argv": argv, "code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
    spark.stop()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
