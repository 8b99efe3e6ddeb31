"""Library module, not a job: find the sales ETL's input files, read each file's header, and stream the lines of
records that span lines (the rare path the scan flags).

Only files with a ``main()`` entry point are jobs; this one is imported by ``sales_etl.py``.

Why this is done on the driver, before any Spark work: a header that lacks a column or has an unknown one must
fail the run with a clear message before the scan, and every file must be read exactly once under its real
name. Spark treats the paths it is given as glob patterns (``sales[1].csv`` would read ``sales1.csv``), so the
files are listed here, and handed to Spark with their glob characters escaped.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import itertools
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from py4j.java_gateway import is_instance_of
from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

COLUMNS = ("order_id", "city", "category", "amount", "quantity", "date")
SUFFIXES = (".csv", ".csv.gz")
BOM = "\ufeff"
BOM_BYTES = BOM.encode()
_GLOB_CHARS = re.compile(r"([\\\[\]{}*?])")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
CHUNK = 1 << 20  # bytes read at a time when a file is streamed on the driver
# What Hadoop's codecs raise for a truncated or corrupt file (on the driver, or somewhere in a failed scan's causes).
DAMAGE_EXCEPTIONS = ("java.io.EOFException", "java.util.zip.ZipException")


class InputError(Exception):
    """The input cannot be used as given; the message names the path or file and the fix."""


@dataclass(frozen=True)
class InputFile:
    """One input file and how its columns are laid out.

    ``positions[i]`` is the field number holding ``COLUMNS[i]``; ``header`` is the file's header line exactly as
    written, or None for a file without a header. ``aliases`` are other names of the same file (symlinks, hard
    links) that were not read again.
    """

    uri: str
    header: str | None
    positions: tuple[int, ...]
    aliases: tuple[str, ...] = field(default=())

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


# ------------------------------------------------------------------------------------ the CSV dialect


def fields_of(line: str) -> list[str]:
    """A line's fields under the job's CSV dialect (docs/jobs.md, "The CSV dialect"), quotes removed.

    A field that starts with a quote is quoted: it ends at the next lone quote, ``""`` inside it is one quote.
    Any other field runs to the next comma, quotes included. Text between a closing quote and the next comma is
    kept here (this function serves headers; the scan rejects such a data line as ``bad_quoting``).
    """
    fields, i, n = [], 0, len(line)
    while True:
        if i < n and line[i] == '"':
            value, j = [], i + 1
            while True:
                k = line.find('"', j)
                if k < 0:  # open at the end of the line
                    value.append(line[j:])
                    i = n
                    break
                value.append(line[j:k])
                if line.startswith('"', k + 1):
                    value.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            comma = line.find(",", i)
            value.append(line[i:comma if comma >= 0 else n])
            fields.append("".join(value))
        else:
            comma = line.find(",", i)
            fields.append(line[i:comma if comma >= 0 else n])
        if comma < 0:
            return fields
        i = comma + 1


def ends_inside_quotes(line: bytes, inside: bool) -> bool:
    """Whether a line ends inside a quoted field, given whether it starts inside one (a record spanning lines).

    The same state machine as ``fields_of``, on bytes (a quote and a comma are single bytes in UTF-8, so
    undecodable lines are followed the same way).
    """
    if b'"' not in line:
        return inside
    i, n = 0, len(line)
    while True:
        if inside or (i < n and line[i] == 34):  # 34 is '"'
            j = i if inside else i + 1
            while True:
                k = line.find(b'"', j)
                if k < 0:
                    return True
                if line.startswith(b'"', k + 1):
                    j = k + 2
                    continue
                break
            inside, i = False, k + 1
        comma = line.find(b",", i)
        if comma < 0:
            return False
        i = comma + 1


def is_blank(line: bytes) -> bool:
    """Empty or only spaces: not a data row (counted as ``blank_lines``) and never a header."""
    return not line.strip(b" ")


def header_names(line: str) -> list[str]:
    """A line's fields compared as header names: without a byte-order mark, case, surrounding spaces or quotes."""
    return [f.strip(" ").lower() for f in fields_of(line.removeprefix(BOM))]


def split_header(line: str) -> list[str] | None:
    """The column names of a header line, or None when the line is data (names no known column)."""
    names = header_names(line)
    return names if set(names) & set(COLUMNS) else None


def looks_like_header(line: str) -> bool:
    """Whether a line other than a file's first names two or more of the columns: a header out of place."""
    return len(set(header_names(line)) & set(COLUMNS)) >= 2


def layout(uri: str, first_line: str | None) -> InputFile:
    """The file's layout from its first line; a header that does not name exactly the six columns is an error."""
    names = split_header(first_line) if first_line is not None else None
    if names is None:
        return InputFile(uri, None, tuple(range(len(COLUMNS))))
    where = display(uri)
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


def skipped_headers(file: InputFile, files: list[InputFile]) -> list[str]:
    """The lines skipped in ``file``: the header of every input file with the same column order, with and without
    a byte-order mark (Hadoop's line reader drops a mark at the start of a file, but not one in the middle of a
    file made by concatenating exports)."""
    return sorted({text for f in files if f.header is not None and f.positions == file.positions
                   for text in (f.header, BOM + f.header)})


def first_line(data: bytes) -> str | None:
    """The first line of a file's first bytes that is not blank, split the way Hadoop's line reader splits lines."""
    lines = _LINE_BREAK.split(data.removeprefix(BOM_BYTES))
    complete = lines[:-1] if len(lines) > 1 else lines
    for line in complete:
        if not is_blank(line):
            try:
                return line.decode()
            except UnicodeDecodeError:
                return None  # not UTF-8: cannot be a header; its rows are rejected as bad_encoding
    return None


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines from a stream of byte chunks, split as Hadoop's line reader splits them (``\\r\\n``, ``\\r`` or
    ``\\n``; a byte-order mark at the start of the file dropped; no empty line after a final line break).

    Memory: one chunk plus the longest line.
    """
    rest, first = b"", True
    for chunk in chunks:
        data = rest + chunk
        hold = data.endswith(b"\r")  # a \r\n may be cut between two chunks
        parts = _LINE_BREAK.split(data[:-1] if hold else data)
        rest = parts.pop() + (b"\r" if hold else b"")
        for line in parts:
            if first:
                line, first = line.removeprefix(BOM_BYTES), False
            yield line
    parts = _LINE_BREAK.split(rest) if rest else []
    if parts and parts[-1] == b"":
        parts.pop()
    for line in parts:
        if first:
            line, first = line.removeprefix(BOM_BYTES), False
        yield line


def display(uri: str) -> str:
    return uri[len("file:"):] if uri.startswith("file:") else uri


# ------------------------------------------------------------------------------------ file systems


@dataclass(frozen=True)
class Listing:
    """Where files come from: the local disk (plain Python, before any JVM starts) or Hadoop's FileSystem."""

    is_dir: Callable[[str], bool]
    is_file: Callable[[str], bool]
    children: Callable[[str], list[str]]  # file URIs directly in a directory
    expand: Callable[[str], list[str]]  # file URIs matching a glob
    chunks: Callable[[str], Iterator[bytes]]  # a file's bytes, decompressed, a chunk at a time
    identity: Callable[[str], object] = lambda uri: uri  # the file behind a name (device and inode locally)

    def head(self, uri: str) -> bytes:
        """The first 64 KiB of a file, decompressed."""
        data = b""
        for chunk in self.chunks(uri):
            data += chunk
            if len(data) >= 65536:
                break
        return data[:65536]

    def lines(self, uri: str) -> Iterator[bytes]:
        """A file's lines as the scan sees them, streamed."""
        return iter_lines(self.chunks(uri))


def _local_chunks(uri: str) -> Iterator[bytes]:
    path = uri[len("file:"):]
    with (gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")) as file:
        while chunk := file.read(CHUNK):
            yield chunk


def _local_identity(uri: str) -> tuple[int, int]:
    status = os.stat(uri[len("file:"):])
    return status.st_dev, status.st_ino


LOCAL = Listing(
    is_dir=lambda uri: os.path.isdir(uri[len("file:"):]),
    is_file=lambda uri: os.path.isfile(uri[len("file:"):]),
    children=lambda uri: ["file:" + e.path for e in os.scandir(uri[len("file:"):]) if e.is_file()],
    expand=lambda uri: ["file:" + p for p in glob.glob(uri[len("file:"):]) if os.path.isfile(p)],
    chunks=_local_chunks,
    identity=_local_identity,
)


def hadoop_listing(spark: SparkSession) -> Listing:
    """The same operations through Hadoop's FileSystem API, for ``s3a://``, ``hdfs://`` and the like.

    Files are told apart by name: object stores have no links, and HDFS symlinks are off by default.
    """
    gateway, conf = spark.sparkContext._gateway, spark.sparkContext._jsc.hadoopConfiguration()
    jvm = gateway.jvm
    path = jvm.org.apache.hadoop.fs.Path

    def fs(uri: str):
        return path(uri).getFileSystem(conf)

    def status(uri: str):
        try:
            return fs(uri).getFileStatus(path(uri))
        except Exception:
            return None

    def chunks(uri: str) -> Iterator[bytes]:
        try:
            stream = fs(uri).open(path(uri))
            codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path(uri))
            stream = codec.createInputStream(stream) if codec is not None else stream
            try:
                while chunk := bytes(stream.readNBytes(CHUNK)):  # py4j returns a Java byte[] as bytes
                    yield chunk
            finally:
                stream.close()
        except Py4JJavaError as exc:
            # A truncated or corrupt .gz (Hadoop's codec raises EOFException or ZipException): the same error as
            # Python's gzip module raises for a local file, so resolve_input reports it as damaged.
            java = exc.java_exception
            if any(is_instance_of(gateway, java, name) for name in DAMAGE_EXCEPTIONS):
                raise OSError(str(java.toString())) from exc
            raise

    def listed(statuses) -> list[str]:
        return [s.getPath().toString() for s in (statuses or []) if s.isFile()]

    return Listing(
        is_dir=lambda uri: (s := status(uri)) is not None and s.isDirectory(),
        is_file=lambda uri: (s := status(uri)) is not None and s.isFile(),
        children=lambda uri: listed(fs(uri).listStatus(path(uri))),
        expand=lambda uri: listed(fs(uri).globStatus(path(uri))),
        chunks=chunks,
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


def damaged(uri: str, detail: object) -> InputError:
    """The one error for a file that cannot be read to its end (a truncated or corrupt gzip, say)."""
    return InputError(f"input file {display(uri)} cannot be read ({detail}); nothing was read from it: "
                      "replace it with a complete copy or remove it from the input")


def resolve_input(spec: str, listing: Listing = LOCAL) -> list[InputFile]:
    """Turn ``--input`` (a directory, a file or a glob) into the files to read, each with its layout.

    A directory means its ``*.csv``/``*.csv.gz`` files; a glob is expanded here, once. Hidden and ``_``-prefixed
    names are skipped (Spark would silently skip them anyway), so naming one explicitly is an error. A file
    reachable under several names (a symlink beside its target, a hard link) is read once, under the first name
    in sorted order; the others are kept as its ``aliases``.
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
    by_identity: dict[object, list[str]] = {}
    for u in sorted(set(uris)):
        by_identity.setdefault(listing.identity(u), []).append(u)
    files = []
    for u, *aliases in by_identity.values():
        try:
            head = listing.head(u)
        except (OSError, EOFError, zlib.error) as exc:  # unreadable, or a damaged or truncated .gz
            raise damaged(u, exc) from exc
        files.append(dataclasses.replace(layout(u, first_line(head)), aliases=tuple(aliases)))
    return files


def input_roots(spec: str) -> str:
    """What an input spec reads: the directory or file itself, or for a glob the directory before its pattern."""
    uri = _qualify(spec.replace("file://", "file:", 1) if spec.startswith("file://") else spec)
    parts = uri.split("/")
    for i, part in enumerate(parts):
        if glob.has_magic(part):
            return "/".join(parts[:i])
    return uri


# Records that span lines (a quoted field with a line break), streamed from a file's lines: the rare path.
RECORD_TEXT_LIMIT = 1 << 20  # bytes of a record spanning lines kept as its raw_line


def spanning_lines(lines: Iterable[bytes], headers: set[bytes]) -> Iterator[tuple[int, bytes]]:
    """``(record number, line)`` for every line of a record that spans lines, in file order, streamed.

    A record spans lines when a line ends inside a quoted field (``ends_inside_quotes``); it goes
    on until a line ends outside one, or to the end of the file. Header lines are not part of the file's
    records (the scan skipped them).
    """
    inside, record = False, -1
    for line in lines:
        if line in headers:
            continue
        if inside:
            yield record, line
            inside = ends_inside_quotes(line, True)
        elif b'"' in line and ends_inside_quotes(line, False):
            record, inside = record + 1, True
            yield record, line


def record_texts(spanning: Iterable[tuple[int, bytes]], write: Callable[[bytes], object]) -> list[tuple[bytes, int]]:
    """Each record's raw text (its lines joined with ``\\n``, cut after ``RECORD_TEXT_LIMIT`` bytes) and its
    line count; every member line is handed to ``write`` as it comes, so memory stays bounded by the limit."""
    records: list[tuple[bytes, int]] = []
    for number, group in itertools.groupby(spanning, key=lambda item: item[0]):
        del number
        parts, size, count, cut = [], 0, 0, False
        for _, line in group:
            write(b"#" + line + b"\n")  # '#' keeps a byte-order mark from being the file's first bytes
            count += 1
            if size <= RECORD_TEXT_LIMIT:
                parts.append(line)
                size += len(line) + 1
            else:
                cut = True
        text = b"\n".join(parts)
        if cut:
            text = text[:RECORD_TEXT_LIMIT] + f"\n[... cut: {count:,} lines in all]".encode()
        records.append((text, count))
    return records
