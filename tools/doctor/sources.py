"""Where the doctor reads a log from: a local path, a running History Server's REST API, or object storage.

Every source ends as local files handed to tools.doctor.eventlog.open_log, so one reader (and its bounded memory)
serves them all; downloads are streamed to a temporary folder that is removed afterwards.

- History Server (Spark 4.0.4's org.apache.spark.status.api.v1, spark-core_2.13-4.0.4.jar, read with javap):
  ``GET /api/v1/applications?limit=N`` lists applications (ApplicationListResource: ``id``, ``name``,
  ``attempts[]`` with ``attemptId`` (absent when there is one), ``startTime``, ``endTime``, ``duration``,
  ``completed``, ``sparkUser``, ``lastUpdated``), newest first; ``GET /api/v1/applications/{id}[/{attemptId}]/logs``
  (AbstractApplicationResource.getEventLogs) answers ``application/octet-stream``: a zip written by
  FsHistoryProvider.writeEventLogs holding the event log as Spark wrote it, a single file or an ``eventlog_v2_*``
  folder of rolling files (EventLogFileReader.zipEventLogFiles).
- ``s3a://``/``s3://`` and ``gs://`` paths go through fsspec with s3fs or gcsfs, optional packages that are not
  in the locks: without them the doctor says which to install.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from tools.doctor.eventlog import ROLLING_PREFIX, EventLogError

TIMEOUT_S = 60
CHUNK = 1 << 20
REMOTE = {"s3a": ("s3", "s3fs"), "s3": ("s3", "s3fs"), "gs": ("gs", "gcsfs")}  # scheme -> (fsspec protocol, package)


class SourceError(EventLogError):
    """A source that cannot be read; the message names it and the fix (the doctor's exit code 2)."""


def is_remote(path: str) -> bool:
    return urllib.parse.urlsplit(path).scheme in REMOTE


def _get(url: str) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        detail = err.read(300).decode("utf-8", "replace").strip().splitlines()
        why = f"HTTP {err.code}" + (f": {detail[0]}" if detail else "")
        if err.code == 404:
            why += "; list the applications with --history-server URL alone and pass one of their ids to --app"
        raise SourceError(f"{url}: {why}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise SourceError(f"{url}: cannot be reached ({reason}); check the History Server URL (e.g. "
                          "http://127.0.0.1:18080 after `sparkstack history` or a kubectl port-forward)") from None


def _api(server: str) -> str:
    server = server.rstrip("/")
    if urllib.parse.urlsplit(server).scheme not in ("http", "https"):
        raise SourceError(f"--history-server {server}: not an http(s) URL; pass e.g. http://127.0.0.1:18080")
    return server if server.endswith("/api/v1") else f"{server}/api/v1"


def list_applications(server: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest applications the History Server knows, one row each: id, name, status, start, duration."""
    with _get(f"{_api(server)}/applications?limit={limit}") as response:
        try:
            listed = json.load(response)
        except ValueError:
            raise SourceError(f"{server}: /api/v1/applications did not answer JSON; is this a Spark History "
                              "Server?") from None
    rows = []
    for app in listed:
        last = (app.get("attempts") or [{}])[0]  # Spark lists attempts newest first
        rows.append({"id": app.get("id"), "name": app.get("name"), "attempt": last.get("attemptId"),
                     "status": "completed" if last.get("completed") else "running or incomplete",
                     "start": last.get("startTime"), "duration_s": round((last.get("duration") or 0) / 1000, 3)})
    return rows


def render_applications(server: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"{server}: no applications (the History Server lists what is in its spark.history.fs.logDirectory)"
    width = max(len(str(r["id"])) for r in rows)
    lines = [f"{'id':<{width}}  {'status':<21}  {'duration':>10}  start                          name"]
    lines += [f"{r['id']:<{width}}  {r['status']:<21}  {r['duration_s']:>9,.1f}s  {r['start'] or '':<29}  {r['name']}"
              for r in rows]
    return "\n".join(lines)


def _safe_extract(archive: zipfile.ZipFile, into: Path) -> None:
    """Extract, refusing entries that would land outside `into` (absolute paths, ``..``)."""
    root = into.resolve()
    for entry in archive.infolist():
        target = (into / entry.filename).resolve()
        if PurePosixPath(entry.filename).is_absolute() or not target.is_relative_to(root):
            raise SourceError(f"the History Server's zip holds an entry outside its folder ({entry.filename!r}); "
                              "refusing to extract it")
        if entry.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(entry) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)


def _log_in(folder: Path, what: str) -> Path:
    """The one log in an extracted or copied folder: an eventlog_v2_* directory, else the one file."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    rolling = [p for p in entries if p.is_dir() and p.name.startswith(ROLLING_PREFIX)]
    if rolling:
        return rolling[0]
    files = [p for p in entries if p.is_file()]
    if len(files) != 1:
        raise SourceError(f"{what}: expected one event log, found {len(files)} file(s)")
    return files[0]


def fetch_history(server: str, app: str, into: Path) -> Path:
    """Download the application's event log from the History Server into `into`; return the log's path."""
    api = _api(server)
    quoted = urllib.parse.quote(app, safe="")
    with _get(f"{api}/applications/{quoted}") as response:
        attempts = json.load(response).get("attempts") or [{}]
    attempt = attempts[0].get("attemptId")  # newest first; absent for a single-attempt application
    url = f"{api}/applications/{quoted}" + (f"/{urllib.parse.quote(attempt, safe='')}" if attempt else "") + "/logs"
    archive_path = into / "logs.zip"
    with _get(url) as response, archive_path.open("wb") as out:
        shutil.copyfileobj(response, out, CHUNK)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            extracted = into / "log"
            extracted.mkdir()
            _safe_extract(archive, extracted)
    except zipfile.BadZipFile:
        raise SourceError(f"{url}: the answer is not a zip of event logs; is this a Spark History Server?") from None
    archive_path.unlink()
    return _log_in(extracted, url)


def _filesystem(path: str) -> tuple[Any, str]:
    scheme = urllib.parse.urlsplit(path).scheme
    protocol, package = REMOTE[scheme]
    try:
        import fsspec  # optional: not in the locks
    except ImportError:
        raise SourceError(f"{path}: reading {scheme}:// needs the optional packages fsspec and {package}; install "
                          f"them into the venv (.venv/bin/pip install {package}) or copy the log to a local "
                          "folder first") from None
    try:
        fs = fsspec.filesystem(protocol)
    except ImportError:
        raise SourceError(f"{path}: reading {scheme}:// needs the optional package {package}; install it into the "
                          f"venv (.venv/bin/pip install {package})") from None
    return fs, path.split("://", 1)[1]


def fetch_remote(path: str, into: Path, fs: Any = None) -> Path:
    """Copy one event log (a file, an eventlog_v2_* folder, or the newest log of a folder) to `into`.

    `fs` is an fsspec filesystem (tests pass one); its ``info``, ``ls(detail=True)`` and ``open`` are used."""
    if fs is None:
        fs, key = _filesystem(path)
    else:
        key = path.split("://", 1)[1]
    key = key.rstrip("/")
    try:
        info = fs.info(key)
        if info.get("type") == "directory" and not PurePosixPath(key).name.startswith(ROLLING_PREFIX):
            entries = [e for e in fs.ls(key, detail=True) if not PurePosixPath(e["name"]).name.startswith(".")]
            if not entries:
                raise SourceError(f"{path}: an empty folder; pass the event log or the folder holding them")
            newest = max(entries, key=lambda e: (e.get("mtime") or e.get("LastModified") or e.get("updated") or 0,
                                                 e["name"]))
            key, info = newest["name"].rstrip("/"), newest
        name = PurePosixPath(key).name
        if info.get("type") == "directory":
            folder = into / name
            folder.mkdir()
            for entry in fs.ls(key, detail=True):
                if entry.get("type") != "directory":
                    _copy(fs, entry["name"], folder / PurePosixPath(entry["name"]).name)
            return folder
        _copy(fs, key, into / name)
        return into / name
    except FileNotFoundError:
        raise SourceError(f"{path}: no such object; check the bucket and prefix") from None
    except PermissionError as err:
        raise SourceError(f"{path}: access denied ({err}); check the credentials fsspec reads") from None


def _copy(fs: Any, key: str, target: Path) -> None:
    with fs.open(key, "rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)


@contextmanager
def local_copy(path: str | None, server: str | None, app: str | None) -> Iterator[Path]:
    """The log's local path for the time of the block: the path itself, or a temporary download."""
    if server is None and path is not None and not is_remote(path):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="sparkstack-doctor-") as tmp:
        if server is not None:
            if app is None:
                raise SourceError("--history-server needs --app ID to read one application (without --app it lists "
                                  "them)")
            yield fetch_history(server, app, Path(tmp))
        else:
            assert path is not None
            yield fetch_remote(path, Path(tmp))
