"""Shared fixtures: one local SparkSession for the whole run, and the tutorial's dataset."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def spark() -> Iterator:
    """A single local[2] session: JVM start-up is the slow part, so every Spark test shares it."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("sparkstack-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tutorial_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tutorial's 3 x 50,000-row dataset, made by the generator's command line as documented."""
    out = tmp_path_factory.mktemp("tutorial-input")
    subprocess.run([sys.executable, str(REPO / "jobs" / "generate_data.py"), "--output", str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server (moto's, in a thread of this process) on 127.0.0.1 and a free port, started
    once per test run for the s3a:// tests; it keeps everything in memory."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
