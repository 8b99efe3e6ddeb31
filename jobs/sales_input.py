"""Library module, not a job: find the sales ETL's input files and read each file's header.

Only files with a ``main()`` entry point are jobs; this one is imported by ``sales_etl.py``.

Why this is done on the driver, before any Spark work: a header that lacks a column or has an unknown one must
fail the run with a clear message before the scan, and every file must be read exactly once under its real
name. Spark treats the paths it is given as glob patterns (``sales[1].csv`` would read ``sales1.csv``), so the
files are listed here, and handed to Spark with their glob characters escaped.
"""

from __future__ import annotations

import csv
import glob
import gzip
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import SparkSession

COLUMNS = ("order_id", "city", "category", "amount", "quantity", "date")
SUFFIXES = (".csv", ".csv.gz")
BOM = "\ufeff"
_GLOB_CHARS = re.compile(r"([\\\[\]{}*?])")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class InputError(Exception):
    """The input cannot be used as given; the message names the path or file and the fix."""


@dataclass(frozen=True)
class InputFile:
    """One input file and how its columns are laid out.

    ``positions[i]`` is the field number holding ``COLUMNS[i]``; ``header`` is the file's header line exactly as
    written (skipped wherever it appears in that file), or None for a file without a header.
    """

    uri: str
    header: str | None
    positions: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]


def is_data_file(name: str) -> bool:
    """``*.csv`` and ``*.csv.gz`` (any case); hidden and ``_``-prefixed names are skipped, as Spark does."""
    lower = name.lower()
    return lower.endswith(SUFFIXES) and not name.startswith((".", "_"))


def spark_path(uri: str) -> str:
    """The path as a literal for Spark: its glob characters escaped, so it names exactly one file."""
    scheme, sep, rest = uri.partition(":")
    return scheme + sep + _GLOB_CHARS.sub(r"\\\1", rest)


def split_header(line: str) -> list[str] | None:
    """The column names of a header line, or None when the line is data (names no known column).

    Names are compared without case, surrounding spaces or CSV quotes, and a leading byte-order mark is ignored.
    """
    fields = [f.strip().lower() for f in next(csv.reader([line.removeprefix(BOM)]), [])]
    return fields if set(fields) & set(COLUMNS) else None


def layout(uri: str, first_line: str | None) -> InputFile:
    """The file's layout from its first line; a header that does not name exactly the six columns is an error."""
    names = split_header(first_line) if first_line is not None else None
    if names is None:
        return InputFile(uri, None, tuple(range(len(COLUMNS))))
    where = uri[len("file:"):] if uri.startswith("file:") else uri
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n for n in names if n not in COLUMNS]
    repeated = sorted({n for n in names if names.count(n) > 1})
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"unknown {', '.join(repr(n) for n in unknown)}"] if unknown else []) + (
        [f"repeated {', '.join(repeated)}"] if repeated else [])
    if problems:
        raise InputError(f"header of {where} does not match the sales columns ({'; '.join(problems)}): "
                         f"it must name exactly {','.join(COLUMNS)} in any order (case and spaces ignored), "
                         "or the file must have no header")
    return InputFile(uri, first_line, tuple(names.index(c) for c in COLUMNS))


def first_line(data: bytes) -> str | None:
    """The first non-empty line of a file's first bytes, split the way Hadoop's line reader splits lines."""
    lines = _LINE_BREAK.split(data)
    complete = lines[:-1] if len(lines) > 1 else lines
    for line in complete:
        if line:
            try:
                return line.decode()
            except UnicodeDecodeError:
                return None  # not UTF-8: cannot be a header; its rows are rejected as bad_encoding
    return None


# ------------------------------------------------------------------------------------ file systems


@dataclass(frozen=True)
class Listing:
    """Where files come from: the local disk (plain Python, before any JVM starts) or Hadoop's FileSystem."""

    is_dir: Callable[[str], bool]
    is_file: Callable[[str], bool]
    children: Callable[[str], list[str]]  # file URIs directly in a directory
    expand: Callable[[str], list[str]]  # file URIs matching a glob
    head: Callable[[str], bytes]  # the first 64 KiB of a file, decompressed


def _local_head(uri: str) -> bytes:
    path = uri[len("file:"):]
    with (gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")) as file:
        return file.read(65536)


LOCAL = Listing(
    is_dir=lambda uri: os.path.isdir(uri[len("file:"):]),
    is_file=lambda uri: os.path.isfile(uri[len("file:"):]),
    children=lambda uri: ["file:" + e.path for e in os.scandir(uri[len("file:"):]) if e.is_file()],
    expand=lambda uri: ["file:" + p for p in glob.glob(uri[len("file:"):]) if os.path.isfile(p)],
    head=_local_head,
)


def hadoop_listing(spark: SparkSession) -> Listing:
    """The same operations through Hadoop's FileSystem API, for ``s3a://``, ``hdfs://`` and the like."""
    jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path

    def fs(uri: str):
        return path(uri).getFileSystem(conf)

    def status(uri: str):
        try:
            return fs(uri).getFileStatus(path(uri))
        except Exception:
            return None

    def head(uri: str) -> bytes:
        stream = fs(uri).open(path(uri))
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path(uri))
        stream = codec.createInputStream(stream) if codec is not None else stream
        # ISO-8859-1 maps every byte to one char, so the bytes come back unchanged; only the first lines are read.
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "ISO-8859-1"))
        try:
            lines = []
            while len(lines) < 16 and (line := reader.readLine()) is not None:
                lines.append(line)
                if line:
                    break
            return "\n".join(lines).encode("latin-1") + b"\n"
        finally:
            reader.close()

    def listed(statuses) -> list[str]:
        return [s.getPath().toString() for s in (statuses or []) if s.isFile()]

    return Listing(
        is_dir=lambda uri: (s := status(uri)) is not None and s.isDirectory(),
        is_file=lambda uri: (s := status(uri)) is not None and s.isFile(),
        children=lambda uri: listed(fs(uri).listStatus(path(uri))),
        expand=lambda uri: listed(fs(uri).globStatus(path(uri))),
        head=head,
    )


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _qualify(spec: str) -> str:
    if "://" in spec:
        return spec.rstrip("/") or spec
    local = spec[len("file:"):] if spec.startswith("file:") else spec
    return "file:" + os.path.abspath(local)


def is_local(spec: str) -> bool:
    return "://" not in spec or spec.startswith("file://")


def resolve_input(spec: str, listing: Listing = LOCAL) -> list[InputFile]:
    """Turn ``--input`` (a directory, a file or a glob) into the files to read, each with its layout.

    A directory means its ``*.csv``/``*.csv.gz`` files; a glob is expanded here, once. Hidden and ``_``-prefixed
    names are skipped (Spark would silently skip them anyway), so naming one explicitly is an error.
    """
    uri = _qualify(spec.replace("file://", "file:", 1) if spec.startswith("file://") else spec)
    if listing.is_dir(uri):
        uris = [u for u in listing.children(uri) if is_data_file(_name(u))]
        if not uris:
            raise InputError(f"input directory {spec} contains no *.csv or *.csv.gz files")
    elif glob.has_magic(uri.split(":", 1)[1]) and not listing.is_file(uri):
        uris = [u for u in listing.expand(uri) if not _name(u).startswith((".", "_"))]
        if not uris:
            raise InputError(f"input pattern {spec} matches no files")
    elif listing.is_file(uri):
        if _name(uri).startswith((".", "_")):
            raise InputError(f"input file {spec} has a hidden or _-prefixed name, which Spark skips; rename it")
        uris = [uri]
    else:
        raise InputError(f"input path {spec} does not exist")
    files = []
    for u in sorted(set(uris)):
        try:
            head = listing.head(u)
        except (OSError, EOFError) as exc:  # unreadable, or a .gz that is not gzip
            raise InputError(f"cannot read input file {u.removeprefix('file:')}: {exc}") from exc
        files.append(layout(u, first_line(head)))
    return files


def input_roots(spec: str) -> str:
    """What an input spec reads: the directory or file itself, or for a glob the directory before its pattern."""
    uri = _qualify(spec.replace("file://", "file:", 1) if spec.startswith("file://") else spec)
    parts = uri.split("/")
    for i, part in enumerate(parts):
        if glob.has_magic(part):
            return "/".join(parts[:i])
    return uri
