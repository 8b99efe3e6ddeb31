"""Shared fixtures: one local SparkSession for the whole run, and the tutorial's dataset."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The dynamic providers' modules and the accessor that builds each provider on first use (functools.cache).
_LAZY_PROVIDERS = (("infra.cluster.kind", "provider_parts"), ("infra.images.kind_load", "provider_class"))


@pytest.fixture(autouse=True)
def _fresh_dynamic_providers() -> None:
    """Every test builds the kind providers afresh: mutmut ties a test to the code it runs, and a provider an
    earlier test built (cached for the process) would hide `_build_provider()` from every later test."""
    for module_name, accessor in _LAZY_PROVIDERS:
        module = sys.modules.get(module_name)
        if module is not None:
            getattr(module, accessor).cache_clear()


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
