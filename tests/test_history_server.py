"""The local History Server (`sparkstack history`) over a real event log, on 127.0.0.1 only."""

from __future__ import annotations

import ipaddress
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
def listening_addresses(port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The local addresses of TCP sockets in LISTEN state on `port`, from /proc/net/tcp and tcp6 (Linux)."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: TCP_LISTEN
                continue
            # Each 32-bit word is in host (little-endian) order.
            raw = b"".join(bytes.fromhex(address[i:i + 8])[::-1] for i in range(0, len(address), 8))
            ip = ipaddress.ip_address(raw)
            found.add(ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip)
    return found


def test_history_server_lists_a_real_application(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    root, apps = event_logs(tmp_path_factory)
    log_dir = tmp_path / "spark-events"
    log_dir.mkdir()
    shutil.copy(root / "clean" / f"{apps['clean']}.zstd", log_dir)
    rolling = root / "troubled" / f"eventlog_v2_{apps['troubled']}"  # a rolling log: several files in the zip
    shutil.copytree(rolling, log_dir / rolling.name)
    port = free_port()
    sparkstack = Path(sys.executable).parent / "sparkstack"  # the installed console script, as a user runs it
    server = subprocess.Popen([str(sparkstack), "history", str(log_dir), "--port", str(port)],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        listed = None
        while time.monotonic() < deadline and server.poll() is None:
            listed = applications(port)
            if listed and len(listed) == 2:
                break
            time.sleep(0.5)
        assert listed, f"no application listed within {START_TIMEOUT_S} s; exit code {server.poll()}"
        assert sorted((a["id"], a["name"]) for a in listed) == sorted(
            [(apps["clean"], "doctor-clean"), (apps["troubled"], "doctor-troubled")])
        assert all(a["attempts"][0]["completed"] is True for a in listed)
        doctor_reads_the_rest_api(port, apps, rolling)
        # Where it listens, read from the kernel's socket tables (not by trying an address this machine may lack).
        listening = listening_addresses(port)
        assert listening and all(address.is_loopback for address in listening), listening
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


def doctor_reads_the_rest_api(port: int, apps: dict[str, str], rolling: Path) -> None:
    """`sparkstack doctor --history-server`: the listing, one application's log through /logs (a zip of the rolling
    files), the same report as from the files themselves, and an unknown id as bad input."""
    url = f"http://127.0.0.1:{port}"
    sparkstack = str(Path(sys.executable).parent / "sparkstack")

    def doctor(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sparkstack, "doctor", *args], cwd=REPO, capture_output=True, text=True, timeout=300)

    listing = doctor("--history-server", url, "--json")
    assert listing.returncode == 0, listing.stderr
    rows = {r["id"]: r for r in json.loads(listing.stdout)}
    assert set(rows) == {apps["clean"], apps["troubled"]}
    assert {r["status"] for r in rows.values()} == {"completed"}
    assert rows[apps["troubled"]]["name"] == "doctor-troubled"
    human = doctor("--history-server", url)
    assert human.returncode == 0 and apps["troubled"] in human.stdout and "completed" in human.stdout
    remote = doctor("--history-server", url, "--app", apps["troubled"], "--json")
    local = doctor(str(rolling), "--json")
    assert remote.returncode == local.returncode == 1, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    report = doctor("--history-server", url, "--app", apps["troubled"])
    assert report.returncode == 1 and f"log: {url} application {apps['troubled']}, downloaded (rolling" in report.stdout
    unknown = doctor("--history-server", url, "--app", "app-that-is-not-there")
    assert unknown.returncode == 2 and "HTTP 404" in unknown.stderr and "Traceback" not in unknown.stderr


def test_refuses_a_missing_directory_and_a_busy_port(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "tools.history_server"]  # the old entry point, kept working
    for command in (run, [str(Path(sys.executable).parent / "sparkstack"), "history"]):
        missing = subprocess.run([*command, str(tmp_path / "nope")], cwd=REPO, capture_output=True, text=True,
                                 timeout=60)
        assert missing.returncode == 2 and "no such directory" in missing.stderr and "Traceback" not in missing.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run([*run, str(tmp_path), "--port", str(port)], cwd=REPO, capture_output=True, text=True,
                               timeout=60)
    assert taken.returncode == 2 and f"port {port}" in taken.stderr
