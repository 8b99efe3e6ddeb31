"""Safe publishing through Hadoop's FileSystem API: guards, the output lock and leftovers of killed runs."""

from __future__ import annotations

import errno
import json
import os
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
