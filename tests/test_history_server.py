"""The local History Server (python -m tools.history_server) over a real event log, on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.scenarios import REPO, event_logs

START_TIMEOUT_S = 120  # JVM start-up plus the first scan of the directory, on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def applications(port: int) -> list[dict] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/applications", timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.spark
def test_history_server_lists_a_real_application(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    root, apps = event_logs(tmp_path_factory)
    log_dir = tmp_path / "spark-events"
    log_dir.mkdir()
    shutil.copy(root / "clean" / f"{apps['clean']}.zstd", log_dir)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tools.history_server", str(log_dir), "--port", str(port)],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        listed = None
        while time.monotonic() < deadline and server.poll() is None:
            listed = applications(port)
            if listed:
                break
            time.sleep(0.5)
        assert listed, f"no application listed within {START_TIMEOUT_S} s; exit code {server.poll()}"
        assert [(a["id"], a["name"]) for a in listed] == [(apps["clean"], "doctor-clean")]
        assert listed[0]["attempts"][0]["completed"] is True
        outside = socket.gethostbyname(socket.gethostname())
        if not outside.startswith("127."):
            with socket.socket() as s:
                s.settimeout(2)
                assert s.connect_ex((outside, port)) != 0, f"the UI must not listen on {outside}"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        stderr = server.stderr.read()
        server.stderr.close()
    assert f"http://127.0.0.1:{port}" in stderr
    deadline = time.monotonic() + 10
    while group_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(server.pid), "a process of the History Server outlived it"
    assert applications(port) is None


def test_refuses_a_missing_directory_and_a_busy_port(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "tools.history_server"]
    missing = subprocess.run([*run, str(tmp_path / "nope")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such directory" in missing.stderr and "Traceback" not in missing.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run([*run, str(tmp_path), "--port", str(port)], cwd=REPO, capture_output=True, text=True,
                               timeout=60)
    assert taken.returncode == 2 and f"port {port}" in taken.stderr
