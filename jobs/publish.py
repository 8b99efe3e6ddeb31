"""Library module, not a job: publish a job's output directory safely, on a local disk or a Hadoop filesystem.

Only files with a ``main()`` entry point are jobs; this one is imported by ``sales_etl.py``.

Spark's overwrite mode deletes the old output before it writes the new one, so a crash leaves nothing. Instead
a run writes into a fresh hidden sibling (``.<name>.staging-<run id>``) and, only when it succeeded, swaps it
in with two renames (old output to ``.<name>.previous``, staging to ``<name>``). A failed run moves its staging
directory to ``<name>.failed`` for inspection. A lock file (``.<name>.lock``) keeps two runs from publishing
into the same output at once. Everything goes through Hadoop's FileSystem API (the layer Spark writes with),
so the same code serves the local disk, the cluster's volume and object stores (``s3a://``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass

from pyspark.sql import SparkSession

SUMMARY_FILE = "_summary.json"
# A lock older than this is taken to be left by a killed run and is taken over (see ``Lock.acquire``).
STALE_LOCK_SECONDS = 6 * 3600


class OutputError(Exception):
    """``--output`` cannot be used (a root, or a directory this job did not write); the message says why."""


class LockedError(Exception):
    """Another run holds the output's lock; the message names the lock file and how to remove it."""


def qualify(location: str) -> str:
    """A Hadoop URI for a location: local paths become absolute ``file:`` URIs."""
    if "://" in location:
        return location.rstrip("/")
    if location.startswith("file:"):
        location = location[len("file:"):]
    return "file:" + os.path.abspath(location)


def display(uri: str) -> str:
    """How a location is shown to people: local paths without the ``file:`` scheme."""
    return uri[len("file:"):] if uri.startswith("file:") else uri


@dataclass(frozen=True)
class OutputPaths:
    """The published directory and the siblings used to publish it safely."""

    final: str
    parent: str
    name: str
    run_id: str

    @classmethod
    def for_output(cls, output: str, run_id: str) -> OutputPaths:
        final = qualify(output)
        parent, _, name = final.rpartition("/")
        if not name or parent.endswith(":/") or parent.endswith(":"):  # "/" or "s3a://bucket"
            raise OutputError(f"output {output} must be a directory below a filesystem or bucket root")
        return cls(final=final, parent=parent, name=name, run_id=run_id)

    @property
    def staging(self) -> str:
        return f"{self.parent}/{self.staging_prefix}{self.run_id}"

    @property
    def staging_prefix(self) -> str:
        return f".{self.name}.staging-"

    @property
    def previous(self) -> str:
        return f"{self.parent}/.{self.name}.previous"

    @property
    def failed(self) -> str:
        return f"{self.parent}/{self.name}.failed"

    @property
    def lock(self) -> str:
        return f"{self.parent}/.{self.name}.lock"


class Storage:
    """Directory operations through Hadoop's FileSystem API.

    On the local disk the raw filesystem is used so that ``_summary.json`` gets no ``.crc`` sidecar.
    """

    def __init__(self, spark: SparkSession, uri: str) -> None:
        jvm = spark.sparkContext._jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        fs = self._path(uri).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self.local = uri.startswith("file:")
        self._fs = fs.getRawFileSystem() if self.local else fs

    def exists(self, uri: str) -> bool:
        return bool(self._fs.exists(self._path(uri)))

    def names(self, uri: str) -> list[str] | None:
        """Entries of a directory (None for a file)."""
        if not self._fs.getFileStatus(self._path(uri)).isDirectory():
            return None
        return [entry.getPath().getName() for entry in self._fs.listStatus(self._path(uri))]

    def age_seconds(self, uri: str) -> float:
        return time.time() - self._fs.getFileStatus(self._path(uri)).getModificationTime() / 1000

    def rename(self, source: str, target: str) -> None:
        """Rename; the target must not exist (Hadoop would move the source *into* it)."""
        if self.exists(target) or not self._fs.rename(self._path(source), self._path(target)):
            raise OSError(f"could not rename {display(source)} to {display(target)}")

    def mkdirs(self, uri: str) -> None:
        self._fs.mkdirs(self._path(uri))

    def delete(self, uri: str) -> None:
        self._fs.delete(self._path(uri), True)

    def write_text(self, uri: str, text: str) -> None:
        stream = self._fs.create(self._path(uri), True)
        try:
            stream.write(bytearray(text.encode()))
        finally:
            stream.close()

    def create_new(self, uri: str, text: str) -> bool:
        """Create a file only if it does not exist yet; False if it does.

        Atomic on a local disk (``O_EXCL``) and on HDFS (the NameNode checks and creates in one step). On S3
        the existence check and the write are separate requests, so two runs starting in the same instant
        can both succeed: the lock protects against overlapping runs, not against a simultaneous start.
        """
        if self.local:
            try:
                fd = os.open(display(uri), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as out:
                out.write(text)
            return True
        if self.exists(uri):
            return False
        try:
            stream = self._fs.create(self._path(uri), False)
        except Exception as exc:  # py4j wraps FileAlreadyExistsException
            if "FileAlreadyExists" in str(exc):
                return False
            raise
        try:
            stream.write(bytearray(text.encode()))
        finally:
            stream.close()
        return True


def check_output_target(storage: Storage, paths: OutputPaths) -> None:
    """Refuse to replace something this job did not write (a mistyped ``--output``)."""
    if not storage.exists(paths.final):
        return
    names = storage.names(paths.final)
    if names is None or (names and SUMMARY_FILE not in names):
        raise OutputError(f"output path {display(paths.final)} exists and is not an earlier output of this job; "
                          "choose another --output or remove it")


@dataclass
class Lock:
    """The output's lock file, held from before the first write until the run has published or failed."""

    storage: Storage
    paths: OutputPaths
    held: bool = False

    def owner_text(self) -> str:
        return json.dumps({"run_id": self.paths.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def _stale(self) -> str | None:
        """Why the existing lock belongs to no live run (None if it may still be held)."""
        try:
            age = self.storage.age_seconds(self.paths.lock)
        except Exception:
            return "gone"
        if age > STALE_LOCK_SECONDS:
            return f"older than {STALE_LOCK_SECONDS // 3600} h"
        if self.storage.local:
            try:
                with open(display(self.paths.lock)) as file:
                    owner = json.load(file)
            except (OSError, ValueError):
                return None
            if owner.get("host") == socket.gethostname() and not _pid_alive(int(owner.get("pid", 0))):
                return f"its process {owner.get('pid')} on this host has exited"
        return None

    def acquire(self) -> str | None:
        """Take the lock, or raise ``LockedError``; returns a note when a stale lock was taken over.

        A lock whose process is gone (same host) or older than ``STALE_LOCK_SECONDS`` was left by a killed run.
        It is first renamed away (only one contender's rename can succeed), then created anew.
        """
        if self.storage.create_new(self.paths.lock, self.owner_text()):
            self.held = True
            return None
        reason = self._stale()
        if reason is not None:
            aside = f"{self.paths.lock}.stale-{self.paths.run_id}"
            try:
                self.storage.rename(self.paths.lock, aside)
                self.storage.delete(aside)
            except OSError:
                pass
            if self.storage.create_new(self.paths.lock, self.owner_text()):
                self.held = True
                return f"took over a stale lock {display(self.paths.lock)} ({reason})"
        remove = f"rm {display(self.paths.lock)}" if self.storage.local else f"hadoop fs -rm {self.paths.lock}"
        raise LockedError(
            f"another run is writing {display(self.paths.final)} (lock {display(self.paths.lock)}); "
            f"wait for it, or if no run is active remove the lock: {remove}"
        )

    def release(self) -> None:
        if self.held:
            self.storage.delete(self.paths.lock)
            self.held = False


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(storage: Storage, paths: OutputPaths) -> list[str]:
    """With the lock held: undo what killed runs left behind, and return what was removed or restored.

    A run that died between its two renames left ``.<name>.previous`` and no ``<name>``: the previous output
    is put back. Staging directories of killed runs are deleted (no other run can be using them).
    """
    done = []
    if storage.exists(paths.previous):
        if not storage.exists(paths.final):
            storage.rename(paths.previous, paths.final)
            done.append(f"restored {display(paths.final)} from {display(paths.previous)}")
        else:
            storage.delete(paths.previous)
            done.append(f"removed {display(paths.previous)}")
    for name in storage.names(paths.parent) or []:
        if name.startswith(paths.staging_prefix):
            storage.delete(f"{paths.parent}/{name}")
            done.append(f"removed {display(paths.parent)}/{name}")
    return done


def publish(storage: Storage, paths: OutputPaths) -> None:
    """Swap the finished staging directory in place of the published output."""
    if storage.exists(paths.final):
        storage.rename(paths.final, paths.previous)
    storage.rename(paths.staging, paths.final)
    storage.delete(paths.previous)


def keep_failed(storage: Storage, paths: OutputPaths) -> None:
    """Move a failed run's staging directory to ``<output>.failed`` (replacing an older one)."""
    storage.delete(paths.failed)
    storage.rename(paths.staging, paths.failed)
