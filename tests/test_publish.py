"""Safe publishing through Hadoop's FileSystem API: guards, the output lock and leftovers of killed runs."""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

import pytest

from tests.job_modules import load_job

publish = load_job("publish")


@pytest.mark.spark
def test_guards(spark, tmp_path: Path) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not an ETL output")
    paths = publish.OutputPaths.for_output(str(foreign), "x")
    with pytest.raises(publish.OutputError, match="not an earlier output"):
        publish.check_output_target(publish.Storage(spark, paths.final), paths)
    for root in ("hdfs://namenode:8020", "/"):
        with pytest.raises(publish.OutputError, match="below a filesystem or bucket root"):
            publish.OutputPaths.for_output(root, "x")


@pytest.mark.parametrize("output", ["s3a://bucket/curated/sales", "S3A://bucket/out", "gs://b/out",
                                    "abfs://c@acct.dfs.core.windows.net/out", "s3a://bucket"])
def test_object_store_outputs_are_refused_naming_the_fix(output: str) -> None:
    """No atomic rename, no exclusive create: the swap and the lock cannot be made safe there."""
    with pytest.raises(publish.OutputError) as caught:
        publish.OutputPaths.for_output(output, "x")
    message = str(caught.value)
    assert f"--output {output} is in an object store" in message and "/data/" in message


@pytest.mark.parametrize("output", ["/data/out", "file:/data/out", "hdfs://namenode:8020/out"])
def test_volumes_and_hdfs_are_accepted(output: str) -> None:
    assert publish.OutputPaths.for_output(output, "x").name == "out"


@pytest.mark.spark
def test_lock_is_exclusive_and_a_stale_one_is_taken_over(spark, tmp_path: Path) -> None:
    paths = publish.OutputPaths.for_output(str(tmp_path / "out"), "run-a")
    storage = publish.Storage(spark, paths.final)
    first = publish.Lock(storage, paths)
    assert first.acquire() is None and first.held
    other = publish.Lock(storage, publish.OutputPaths.for_output(str(tmp_path / "out"), "run-b"))
    with pytest.raises(publish.LockedError, match=r"rm .*\.out\.lock"):
        other.acquire()  # same host, our own (live) pid holds it
    lock = Path(publish.display(paths.lock))
    assert json.loads(lock.read_text())["run_id"] == "run-a"

    old = time.time() - publish.STALE_LOCK_SECONDS - 60
    os.utime(lock, (old, old))  # a lock older than the bound was left by a killed run
    note = other.acquire()
    assert note is not None and "stale lock" in note and "older than" in note
    assert json.loads(lock.read_text())["run_id"] == "run-b"
    other.release()
    assert not lock.exists()


@pytest.mark.spark
def test_leftovers_of_killed_runs(spark, tmp_path: Path) -> None:
    paths = publish.OutputPaths.for_output(str(tmp_path / "out"), "now")
    storage = publish.Storage(spark, paths.final)
    previous = Path(publish.display(paths.previous))
    previous.mkdir()
    (previous / "_summary.json").write_text("{}")
    staging = tmp_path / ".out.staging-older"
    staging.mkdir()
    unrelated = tmp_path / ".other.staging-x"
    unrelated.mkdir()
    done = publish.remove_leftovers(storage, paths)  # died between the two renames: the output comes back
    assert len(done) == 2
    assert (tmp_path / "out" / "_summary.json").exists() and not previous.exists() and not staging.exists()
    assert unrelated.exists()  # another output's staging is not ours to remove


@pytest.mark.spark
def test_an_unreadable_lock_left_by_a_dead_writer_is_stale(spark, tmp_path: Path) -> None:
    """Item 8: an empty lock (a full disk) blocked every run for 6 hours; its writer is gone after a minute."""
    paths = publish.OutputPaths.for_output(str(tmp_path / "out"), "run-a")
    lock = Path(publish.display(paths.lock))
    lock.write_bytes(b"")
    runner = publish.Lock(publish.Storage(spark, paths.final), paths)
    with pytest.raises(publish.LockedError):
        runner.acquire()  # just written: its writer may still be writing
    old = time.time() - publish.UNREADABLE_LOCK_SECONDS - 5
    os.utime(lock, (old, old))
    note = runner.acquire()
    assert note is not None and "unreadable" in note and json.loads(lock.read_text())["run_id"] == "run-a"
    runner.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no takeover lock or private file left


@pytest.mark.spark
def test_a_full_disk_leaves_no_lock_behind(spark, tmp_path: Path, monkeypatch) -> None:
    """Item 8: writing the lock fails (no space left): the run fails, and no empty lock blocks the next run."""
    paths = publish.OutputPaths.for_output(str(tmp_path / "out"), "run-a")
    runner = publish.Lock(publish.Storage(spark, paths.final), paths)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        runner.acquire()
    assert list(tmp_path.iterdir()) == [] and not runner.held
    monkeypatch.undo()
    assert runner.acquire() is None and runner.held
    runner.release()


@pytest.mark.spark
def test_two_runs_cannot_both_take_over_one_stale_lock(spark, tmp_path: Path, monkeypatch) -> None:
    """Item 8: A and B both find the same stale lock; B takes it over while A is between its look and its
    takeover. A must then find B's fresh lock and stop, not replace it."""
    storage = publish.Storage(spark, publish.qualify(str(tmp_path / "out")))
    a, b = (publish.Lock(storage, publish.OutputPaths.for_output(str(tmp_path / "out"), run)) for run in "AB")
    lock = Path(publish.display(a.paths.lock))
    lock.write_text(json.dumps({"run_id": "dead", "host": os.uname().nodename, "pid": 2**22 + 1}))
    real_stale = publish.Lock._stale
    looks = []

    def interleaved(self):
        reason = real_stale(self)
        if self is a and not looks:  # right after A's first look: B runs its whole takeover
            looks.append(reason)
            assert b.acquire() is not None and b.held
        return reason

    monkeypatch.setattr(publish.Lock, "_stale", interleaved)
    with pytest.raises(publish.LockedError):
        a.acquire()
    assert looks and looks[0] is not None  # A did see the stale lock
    assert not a.held and json.loads(lock.read_text())["run_id"] == "B"
    b.release()


class MemoryStorage:
    """Storage's operations on a dict (name -> (text, age in seconds)): the lock and leftover rules without a JVM."""

    def __init__(self, local: bool = True) -> None:
        self.local = local
        self.entries: dict[str, tuple[str, float]] = {}

    def exists(self, uri: str) -> bool:
        return uri in self.entries

    def names(self, uri: str) -> list[str] | None:
        return sorted(k[len(uri) + 1:] for k in self.entries if k.startswith(uri + "/") and "/" not in
                      k[len(uri) + 1:])

    def age_seconds(self, uri: str) -> float:
        return self.entries[uri][1]

    def read_text(self, uri: str) -> str:
        return self.entries[uri][0]

    def create_new(self, uri: str, text: str) -> bool:
        if uri in self.entries:
            return False
        self.entries[uri] = (text, 0.0)
        return True

    def delete(self, uri: str) -> None:
        self.entries.pop(uri, None)

    def rename(self, source: str, target: str) -> None:
        assert target not in self.entries
        self.entries[target] = self.entries.pop(source)


def test_locations_and_the_names_beside_the_output() -> None:
    assert publish.qualify("rel/out") == "file:" + os.path.abspath("rel/out")
    assert publish.qualify("file:/data/out") == "file:/data/out"
    assert publish.qualify("hdfs://nn:8020/out/") == "hdfs://nn:8020/out"
    assert (publish.display("file:/data/out"), publish.display("hdfs://nn/out")) == ("/data/out", "hdfs://nn/out")
    paths = publish.OutputPaths.for_output("/data/curated/sales", "r1")
    assert (paths.final, paths.parent, paths.name, paths.run_id) == ("file:/data/curated/sales", "file:/data/curated",
                                                                     "sales", "r1")
    assert (paths.staging, paths.previous, paths.failed, paths.lock) == (
        "file:/data/curated/.sales.staging-r1", "file:/data/curated/.sales.previous",
        "file:/data/curated/sales.failed", "file:/data/curated/.sales.lock")
    with pytest.raises(publish.OutputError) as refused:
        publish.OutputPaths.for_output("file:/", "x")
    assert str(refused.value) == "output file:/ must be a directory below a filesystem or bucket root"


LOCK = "file:/data/.out.lock"


@pytest.mark.parametrize(("text", "age", "reason"), [
    (None, 0.0, "gone"),
    ('{"pid": 1, "host": "elsewhere"}', publish.STALE_LOCK_SECONDS + 1, "older than 6 h"),
    ('{"pid": 1, "host": "elsewhere"}', publish.STALE_LOCK_SECONDS, None),
    ("", publish.UNREADABLE_LOCK_SECONDS + 1, "unreadable and written more than 60 s ago"),
    ('{"host": "h"}', publish.UNREADABLE_LOCK_SECONDS + 1, "unreadable and written more than 60 s ago"),
    ('["pid"]', publish.UNREADABLE_LOCK_SECONDS + 1, "unreadable and written more than 60 s ago"),
    ("", publish.UNREADABLE_LOCK_SECONDS, None),
    ('{"pid": "HERE", "host": "HOST"}', 0.0, None),
    ('{"pid": 4194305, "host": "HOST"}', 0.0, "its process 4194305 on this host has exited"),
    ('{"pid": 4194305, "host": "another host"}', 0.0, None),
    ('{"pid": 0, "host": "HOST"}', 0.0, "its process 0 on this host has exited")])
def test_when_a_lock_is_stale(text: str | None, age: float, reason: str | None) -> None:
    """Older than 6 hours; unreadable and older than a minute; or its process gone from this host (4194305 is
    above Linux's largest pid, 2^22). Anything else may belong to a live run."""
    storage = MemoryStorage()
    if text is not None:
        text = text.replace('"HERE"', str(os.getpid())).replace("HOST", socket.gethostname())
        storage.entries[LOCK] = (text, age)
    lock = publish.Lock(storage, publish.OutputPaths.for_output("/data/out", "me"))
    assert lock._stale() == reason


def test_a_live_lock_is_refused_naming_the_command_that_removes_it() -> None:
    storage = MemoryStorage(local=False)
    paths = publish.OutputPaths.for_output("hdfs://nn:8020/data/out", "me")
    storage.entries[paths.lock] = (json.dumps({"pid": os.getpid(), "host": socket.gethostname()}), 0.0)
    with pytest.raises(publish.LockedError) as refused:
        publish.Lock(storage, paths).acquire()
    assert str(refused.value) == ("another run is writing hdfs://nn:8020/data/out (lock hdfs://nn:8020/data/.out.lock);"
                                  " wait for it, or if no run is active remove the lock: hadoop fs -rm "
                                  "hdfs://nn:8020/data/.out.lock")
    assert sorted(storage.entries) == [paths.lock]  # the takeover lock was never taken


def test_a_takeover_lock_left_by_a_killed_run_is_removed_after_a_minute() -> None:
    paths = publish.OutputPaths.for_output("/data/out", "me")
    storage = MemoryStorage()
    storage.entries[paths.lock] = ("", publish.STALE_LOCK_SECONDS + 1)
    storage.entries[paths.lock + ".takeover"] = ("", publish.UNREADABLE_LOCK_SECONDS)
    lock = publish.Lock(storage, paths)
    with pytest.raises(publish.LockedError):
        lock.acquire()  # a minute old: its run may still be taking over
    storage.entries[paths.lock + ".takeover"] = ("", publish.UNREADABLE_LOCK_SECONDS + 1)
    assert lock.acquire() == "took over a stale lock /data/.out.lock (older than 6 h)"
    assert lock.held and sorted(storage.entries) == [paths.lock]
    assert json.loads(storage.entries[paths.lock][0])["run_id"] == "me"
    lock.release()
    assert storage.entries == {} and not lock.held
    lock.release()  # releasing twice removes nobody else's lock
    storage.entries[paths.lock] = ("other", 0.0)
    lock.release()
    assert paths.lock in storage.entries


def test_leftovers_publish_and_keep_failed_in_order() -> None:
    paths = publish.OutputPaths.for_output("/data/out", "now")
    storage = MemoryStorage()
    storage.entries.update({paths.previous: ("old", 0), paths.final: ("current", 0),
                            "file:/data/.out.staging-dead": ("", 0), "file:/data/.outer.staging-x": ("", 0)})
    assert publish.remove_leftovers(storage, paths) == ["removed /data/.out.previous",
                                                        "removed /data/.out.staging-dead"]
    assert sorted(storage.entries) == ["file:/data/.outer.staging-x", "file:/data/out"]
    storage.entries[paths.staging] = ("new", 0)
    publish.publish(storage, paths)
    assert storage.entries[paths.final] == ("new", 0) and paths.previous not in storage.entries
    assert paths.staging not in storage.entries
    storage.entries[paths.staging] = ("bad", 0)
    storage.entries[paths.failed] = ("older failure", 0)
    publish.keep_failed(storage, paths)
    assert storage.entries[paths.failed] == ("bad", 0) and paths.staging not in storage.entries
    del storage.entries[paths.final]
    storage.entries[paths.staging] = ("first", 0)
    publish.publish(storage, paths)  # nothing published before: nothing to move aside
    assert storage.entries[paths.final] == ("first", 0)
