"""The local launcher's class archive: what it leaves on disk between runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tools.dev.local_run import ClassArchive


def test_every_run_removes_half_written_archives_an_hour_old_and_keeps_newer_ones(tmp_path: Path) -> None:
    archive = tmp_path / "spark-4.0.4-abc.jsa"
    archive.write_bytes(b"archive")
    old, recent = tmp_path / "spark-4.0.4-abc.jsa.111.tmp", tmp_path / "spark-4.0.4-abc.jsa.222.tmp"
    other = tmp_path / "spark-4.0.4-def.jsa.333.tmp"  # another machine key's: not this archive's leftovers
    for leftover in (old, recent, other):
        leftover.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    for aged in (old, other):
        os.utime(aged, (two_hours_ago, two_hours_ago))
    ClassArchive(archive, java="/nonexistent/java", creating=False).finish()  # the archive existed: no JVM check
    assert not old.exists()
    assert recent.exists() and other.exists() and archive.read_bytes() == b"archive"
