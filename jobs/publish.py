"""Library module, not a job: publish a job's output directory safely, on a local disk or a Hadoop filesystem.

Only files with a ``main()`` entry point are jobs; this one is imported by ``sales_etl.py``.

Spark's overwrite mode deletes the old output before it writes the new one, so a crash leaves nothing. Instead
a run writes into a fresh hidden sibling (``.<name>.staging-<run id>``) and, only when it succeeded, swaps it
in with two renames (old output to ``.<name>.previous``, staging to ``<name>``). A failed run moves its staging
directory to ``<name>.failed`` for inspection. A lock file (``.<name>.lock``) keeps two runs from publishing
into the same output at once. Everything goes through Hadoop's FileSystem API (the layer Spark writes with),
so the same code serves the local disk, the cluster's volume and HDFS.

Object stores (``s3a://`` and the like) are refused as outputs: there a directory rename is a copy of each
object and then a delete, so a run killed mid-rename leaves a half-published output, and "create only if absent"
is a check followed by a write, so two runs can both take the lock. Input may stay in an object store.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pyspark.sql import SparkSession

SUMMARY_FILE = "_summary.json"
# A lock older than this is taken to be left by a killed run and is taken over (see ``Lock.acquire``).
STALE_LOCK_SECONDS = 6 * 3600
# An unreadable lock (or takeover lock) this old has no live writer: a run writes its lock whole at once.
UNREADABLE_LOCK_SECONDS = 60


# Filesystems whose directory rename is atomic and whose create(overwrite=false) is exclusive: the two operations
# the publish protocol rests on (Hadoop's filesystem specification, "Object Stores vs. Filesystems").
PUBLISH_SCHEMES = ("file", "hdfs")


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
        scheme = final.split(":", 1)[0].lower()
        if scheme not in PUBLISH_SCHEMES:
            raise OutputError(
                f"--output {output} is in an object store ({scheme}://), where a rename is a copy and a delete and a "
                "lock is a check then a write, so a failed or concurrent run could leave a half-published output; "
                "write the output to a volume (e.g. /data/..., a ReadWriteMany claim on existing clusters) or HDFS "
                "(--input may stay in the object store)")
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

    @contextlib.contextmanager
    def writer(self, uri: str) -> Iterator[Callable[[bytes], object]]:
        """A file to write bytes to, a piece at a time (streamed; replaces an existing file)."""
        if self.local:
            os.makedirs(os.path.dirname(display(uri)), exist_ok=True)
            with open(display(uri), "wb") as file:
                yield file.write
            return
        stream, buffer = self._fs.create(self._path(uri), True), bytearray()

        def write(data: bytes) -> None:
            buffer.extend(data)
            if len(buffer) >= 1 << 20:
                stream.write(buffer)
                buffer.clear()
        try:
            yield write
            stream.write(buffer)
        finally:
            stream.close()

    def read_text(self, uri: str) -> str:
        """A small file's text (undecodable bytes replaced)."""
        stream = self._fs.open(self._path(uri))
        try:
            return bytes(stream.readAllBytes()).decode(errors="replace")
        finally:
            stream.close()

    def create_new(self, uri: str, text: str) -> bool:
        """Create a file holding ``text`` only if it does not exist yet; False if it does.

        On a local disk the text is written to a private file first, which is then hard-linked to the name:
        ``link`` fails if the name exists, so this is atomic, and the file is never seen empty or half written
        (a full disk fails the write before the name exists). On HDFS the NameNode checks and creates in one step;
        a failed write removes the file again. On S3 the existence check and the write are separate requests, so
        two runs starting in the same instant can both succeed: the lock protects against overlapping runs, not
        against a simultaneous start.
        """
        if self.local:
            path = display(uri)
            private = f"{path}.{os.getpid()}-{time.monotonic_ns()}.tmp"
            try:
                with open(private, "x") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.link(private, path)
            except FileExistsError:
                return False
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(private)
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
            stream.close()
        except Exception:
            with contextlib.suppress(Exception):
                stream.close()
            self.delete(uri)
            raise
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
        """Why the existing lock belongs to no live run (None if it may still be held).

        A lock is stale when it is older than ``STALE_LOCK_SECONDS``, when its process is gone (same host), or when
        it cannot be read (empty or damaged: a full disk, an older version of this job) and was written more than
        ``UNREADABLE_LOCK_SECONDS`` ago: this job writes its lock whole before the lock's name exists, so no live
        run's lock stays unreadable.
        """
        try:
            age = self.storage.age_seconds(self.paths.lock)
            text = self.storage.read_text(self.paths.lock)
        except Exception:
            return "gone"
        if age > STALE_LOCK_SECONDS:
            return f"older than {STALE_LOCK_SECONDS // 3600} h"
        try:
            owner = json.loads(text)
            pid = int(owner["pid"])
        except (ValueError, KeyError, TypeError):
            if age > UNREADABLE_LOCK_SECONDS:
                return f"unreadable and written more than {UNREADABLE_LOCK_SECONDS} s ago"
            return None
        if owner.get("host") == socket.gethostname() and not _pid_alive(pid):
            return f"its process {pid} on this host has exited"
        return None

    def acquire(self) -> str | None:
        """Take the lock, or raise ``LockedError``; returns a note when a stale lock was taken over.

        Taking over is serialised by a second lock, ``<lock>.takeover``, created the same exclusive way: only its
        holder may remove the stale lock, and it checks again that the lock is still stale before it does. So of
        two runs that both found the same stale lock, the second finds the first one's fresh lock and stops.
        A takeover lock older than ``UNREADABLE_LOCK_SECONDS`` was left by a run killed while taking over.
        """
        if self.storage.create_new(self.paths.lock, self.owner_text()):
            self.held = True
            return None
        if self._stale() is not None:
            takeover = f"{self.paths.lock}.takeover"
            got = self.storage.create_new(takeover, self.owner_text())
            if not got and _age(self.storage, takeover) > UNREADABLE_LOCK_SECONDS:
                self.storage.delete(takeover)
                got = self.storage.create_new(takeover, self.owner_text())
            if got:
                try:
                    reason = self._stale()  # again: another run may have taken over since the first look
                    if reason is not None:
                        self.storage.delete(self.paths.lock)
                        if self.storage.create_new(self.paths.lock, self.owner_text()):
                            self.held = True
                            return f"took over a stale lock {display(self.paths.lock)} ({reason})"
                finally:
                    self.storage.delete(takeover)
        remove = f"rm {display(self.paths.lock)}" if self.storage.local else f"hadoop fs -rm {self.paths.lock}"
        raise LockedError(
            f"another run is writing {display(self.paths.final)} (lock {display(self.paths.lock)}); "
            f"wait for it, or if no run is active remove the lock: {remove}"
        )

    def release(self) -> None:
        if self.held:
            self.storage.delete(self.paths.lock)
            self.held = False


def _age(storage: Storage, uri: str) -> float:
    try:
        return storage.age_seconds(uri)
    except Exception:
        return 0.0


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
