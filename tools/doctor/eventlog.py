"""Read one Spark 4.0.4 application's event log as a stream of JSON events, in bounded memory.

The layouts are those of org.apache.spark.deploy.history.EventLogFileWriter (spark-core_2.13-4.0.4.jar):

- a single file (SingleEventLogFileWriter, spark.eventLog.rolling.enabled=false): ``<appId>[.<codec>][.inprogress]``;
- a rolling directory (RollingEventLogFilesWriter, the default in Spark 4): ``eventlog_v2_<appId>/`` holding
  ``events_<n>_<appId>[.<codec>]`` files, read in order of n, and an empty ``appstatus_<appId>[.inprogress]``
  marker whose ``.inprogress`` means the application has not ended. Files compacted by the History Server end in
  ``.compact`` and replace every file before them.

The codec suffix is CompressionCodec.getShortName of the writer's codec. Spark 4 compresses event logs by default
(spark.eventLog.compress=true) with zstd (spark.eventLog.compression.codec); lz4 and snappy are the other usual
choices. Each is read through a streaming decompressor and split into lines here, so memory use is one
compressed block plus one line, whatever the size of the log:

- zstd (ZStdCompressionCodec): zstd-jni's ZstdOutputStream with setCloseFrameOnFlush(true), so the file is a
  sequence of standard zstd frames; read with ``zstandard`` across frames.
- lz4 (LZ4CompressionCodec): lz4-java's LZ4BlockOutputStream, not the LZ4 frame format (see _lz4_blocks).
- snappy (SnappyCompressionCodec): xerial snappy-java's SnappyOutputStream framing (see _snappy_chunks).

A log whose writer died (an ``.inprogress`` log, or any log cut short) ends with a partial line or a partial
compressed block; both are dropped and ``truncated`` is set, as Spark's own ReplayListenerBus does with
maybeTruncated.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

CODECS = ("zstd", "lz4", "snappy")
READ_SIZE = 1 << 18  # bytes per read
IN_PROGRESS = ".inprogress"
# orjson parses the many small events (task ends, a few KB each) about twice as fast as the standard library, but
# takes about 14x a line's size while parsing it (measured with tracemalloc: 42 MB for a 3 MB line, against 9 MB);
# the rare large ones (SQL plans, hundreds of KB and more) go through the standard library, so memory stays bounded.
FAST_JSON_MAX = 1 << 15
ROLLING_PREFIX = "eventlog_v2_"
_EVENTS_FILE = re.compile(r"^events_(\d+)_(.+?)(\.compact)?$")
_LZ4_MAGIC = b"LZ4Block"  # lz4-java LZ4BlockOutputStream (see _lz4_blocks)
_EVENT_NAME = re.compile(rb'^\{\s*"Event"\s*:\s*"([^"]+)"')  # Spark writes no spaces; hand-made logs may


class EventLogError(Exception):
    """A path that cannot be read as an event log; the message names the file and what to do."""


@dataclass
class EventLog:
    """One application's event log: the files to read in order, their codec, and whether it was still open."""

    path: Path
    files: list[Path]
    codec: str | None
    in_progress: bool
    rolling: bool
    truncated: bool = field(default=False, init=False)  # set while reading if the last line or block was cut
    notes: list[str] = field(default_factory=list)  # files passed over in a directory of logs, and why

    def lines(self) -> Iterator[bytes]:
        """Every complete line of every file, in order, without the newline."""
        for index, path in enumerate(self.files):
            last = index == len(self.files) - 1
            pending: list[bytes] = []  # the start of a line longer than one chunk, joined once when it ends
            cut = False
            try:
                with path.open("rb") as raw:
                    for chunk in _decompress(raw, self.codec, path):
                        pieces = chunk.split(b"\n")
                        if len(pieces) == 1:
                            pending.append(chunk)
                            continue
                        if pending:
                            pending.append(pieces[0])
                            pieces[0] = b"".join(pending)
                            pending = []
                        tail = pieces.pop()
                        if tail:
                            pending.append(tail)
                        yield from (p for p in pieces if p)
            except _TruncatedError:
                cut = True
            # Spark ends every event with a newline, so a partial line means the writer stopped mid-event.
            if cut or b"".join(pending).strip():
                self.truncated = True
                if not last:
                    raise EventLogError(f"{path}: the file ends in the middle of an event but is not the last "
                                        "file of the log; the log is damaged, copy it again from its source")

    def events(self, wanted: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Parsed events in log order; with ``wanted``, only those event names are decoded (the rest are skipped
        by their prefix, which keeps large SQL plan events cheap)."""
        names = {n.encode() for n in wanted} if wanted is not None else None
        first = True
        for number, line in enumerate(self.lines(), start=1):
            if first:
                first = False
                if not line.startswith(b"{") or b'"Event"' not in line[:100]:
                    raise EventLogError(f"{self.files[0]}: not a Spark event log (the first line is not a JSON "
                                        "event); pass the file or eventlog_v2_* directory Spark wrote under "
                                        "spark.eventLog.dir")
            if names is not None:
                match = _EVENT_NAME.match(line)
                if match is None or match.group(1) not in names:
                    continue
            try:
                yield orjson.loads(line) if len(line) < FAST_JSON_MAX else json.loads(line)
            except ValueError as err:
                raise EventLogError(f"{self.path}: event {number} is not valid JSON ({err}); the log is damaged, "
                                    "copy it again from its source") from None
        if first:
            raise EventLogError(f"{self.path}: holds no events; pass a log of an application that has started")


class _TruncatedError(Exception):
    """The compressed stream stops inside a block: the writer was still writing (or died)."""


def open_log(path: str | Path) -> EventLog:
    """Find the files of the event log at ``path``: a log file, an eventlog_v2_* directory, or a directory holding
    event logs (then the most recently modified one is read)."""
    path = Path(path)
    if not path.exists():
        raise EventLogError(f"{path}: no such file or directory; pass an event log under spark.eventLog.dir "
                            "(locally data/spark-events/)")
    notes: list[str] = []
    if path.is_dir() and not path.name.startswith(ROLLING_PREFIX):
        logs = []
        for p in sorted(path.iterdir()):
            why = _not_a_log(p)
            if why is None:
                logs.append(p)
            elif why:
                notes.append(f"skipped {p.name}: {why}")
        if not logs:
            raise EventLogError(f"{path}: a directory with no event logs in it; pass a <appId>[.codec] file or an "
                                "eventlog_v2_<appId> directory" + (f" ({'; '.join(notes)})" if notes else ""))
        path = max(logs, key=lambda p: (p.stat().st_mtime, p.name))
    if path.is_dir():
        log = _rolling(path)
    else:
        name = path.name
        in_progress = name.endswith(IN_PROGRESS)
        if in_progress:
            name = name[: -len(IN_PROGRESS)]
        log = EventLog(path, [path], _codec_of(name, path), in_progress, rolling=False)
    log.notes = notes
    return log


_MAGIC = {"zstd": b"\x28\xb5\x2f\xfd", "lz4": _LZ4_MAGIC, "snappy": b"\x82SNAPPY\x00", None: b"{"}


def _not_a_log(p: Path) -> str | None:
    """Why a file beside event logs is not one ('' to pass over it silently), None for a log. A directory of logs
    gathers strays (a README, a half-copied file) and logs of applications that have not written a byte yet
    (an empty .inprogress); neither may stop the doctor reading the logs beside them."""
    if p.name.startswith(".") or p.name.endswith(".crc"):
        return ""
    if p.is_dir():
        if not p.name.startswith(ROLLING_PREFIX):
            return ""
        app_id = p.name[len(ROLLING_PREFIX):]
        if not any(_EVENTS_FILE.match(f.name) for f in p.iterdir()):
            return f"no events_<n>_{app_id} files yet"
        return None
    if not p.is_file():
        return ""
    name = p.name.removesuffix(IN_PROGRESS)
    suffix = name.rsplit(".", 1)[1] if "." in name else None
    if suffix is not None and suffix not in CODECS:
        return "not an event log (Spark names them <appId>[.zstd|.lz4|.snappy][.inprogress])"
    with p.open("rb") as raw:
        head = raw.read(8)
    if not head:
        return "empty (an application that has not written its first event yet)"
    if not head.startswith(_MAGIC[suffix]):
        return f"does not start like a{'n uncompressed' if suffix is None else ' ' + suffix} event log"
    return None


def _codec_of(name: str, path: Path) -> str | None:
    """The codec named by a file name's suffix (CompressionCodec.getShortName), None for no suffix."""
    if "." not in name:
        return None
    suffix = name.rsplit(".", 1)[1]
    if suffix in CODECS:
        return suffix
    if suffix == "lzf":
        raise EventLogError(f"{path}: lzf-compressed event logs are not supported; rewrite the application with "
                            "spark.eventLog.compression.codec=zstd (Spark 4's default), lz4 or snappy")
    raise EventLogError(f"{path}: unknown codec suffix '.{suffix}'; Spark names event logs <appId>[.zstd|.lz4|"
                        ".snappy][.inprogress], so pass such a file (or rename it if it was renamed)")


def _rolling(directory: Path) -> EventLog:
    """A RollingEventLogFilesWriter directory: events files in order of index, from the last compacted one."""
    app_id = directory.name[len(ROLLING_PREFIX):]
    indexed: list[tuple[int, bool, Path]] = []
    for p in directory.iterdir():
        match = _EVENTS_FILE.match(p.name)
        if match and p.is_file():
            indexed.append((int(match.group(1)), bool(match.group(3)), p))
    if not indexed:
        raise EventLogError(f"{directory}: no events_<n>_{app_id} files in this rolling event log directory; the "
                            "application wrote nothing yet, or the files were removed")
    indexed.sort()
    compacted = [i for i, (_, compact, _) in enumerate(indexed) if compact]
    if compacted:
        indexed = indexed[compacted[-1]:]
    files = [p for _, _, p in indexed]
    codecs = set()
    for index, _, p in indexed:
        name = p.name.removesuffix(".compact").removesuffix(IN_PROGRESS)
        prefix = f"events_{index}_{app_id}"
        if not name.startswith(prefix):
            raise EventLogError(f"{p}: does not belong to application {app_id} of its directory; the log is damaged")
        codecs.add(_codec_of(name[len(prefix):], p))
    if len(codecs) > 1:
        raise EventLogError(f"{directory}: its files use different codecs ({sorted(map(str, codecs))}); the log is "
                            "damaged")
    in_progress = (directory / f"appstatus_{app_id}{IN_PROGRESS}").exists()
    return EventLog(directory, files, codecs.pop(), in_progress, rolling=True)


def _decompress(raw: IO[bytes], codec: str | None, path: Path) -> Iterator[bytes]:
    """Decompressed chunks of one file; corrupt data raises EventLogError, a cut-off final block _TruncatedError."""
    try:
        if codec is None:
            yield from iter(lambda: raw.read(READ_SIZE), b"")
        elif codec == "zstd":
            yield from _zstd(raw)
        elif codec == "lz4":
            yield from _lz4_blocks(raw, path)
        else:
            yield from _snappy_chunks(raw, path)
    except (EventLogError, _TruncatedError):
        raise
    except ImportError as err:
        raise EventLogError(f"{path}: reading {codec} logs needs the Python package '{err.name}'; install the "
                            "development requirements (.venv/bin/pip install -r requirements-dev.txt)") from None
    except Exception as err:  # the decompressors raise their own error types on corrupt input
        raise EventLogError(f"{path}: not valid {codec} data ({type(err).__name__}: {err}); the file is damaged or "
                            "its suffix does not match its codec") from None


def _zstd(raw: IO[bytes]) -> Iterator[bytes]:
    import zstandard

    # Spark closes a frame on every flush (setCloseFrameOnFlush), hence read_across_frames. A frame cut short by a
    # dying writer yields its whole blocks without a word, and as Spark flushes on whole events those usually end
    # on a line, so the frame structure is checked once the data is read (_zstd_cut).
    reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=READ_SIZE, read_across_frames=True)
    yield from iter(lambda: reader.read(READ_SIZE), b"")
    if _zstd_cut(raw):
        raise _TruncatedError


_ZSTD_MAGIC = 0xFD2FB528
_FCS_SIZES = (0, 2, 4, 8)  # Frame_Content_Size_flag -> field size (0 means 1 with Single_Segment_flag)
_DID_SIZES = (0, 1, 2, 4)


def _zstd_cut(raw: IO[bytes]) -> bool:
    """True if the file's last zstd frame is unfinished. Walks the frame and block headers of RFC 8878 (section 3.1)
    by seeking past each block, so it reads a few bytes per block (at most 128 KiB of data each)."""
    raw.seek(0, 2)
    size = raw.tell()
    at = 0
    while at < size:
        raw.seek(at)
        head = raw.read(5)
        if len(head) < 4:
            return True
        magic = int.from_bytes(head[:4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:  # a skippable frame: magic, 4-byte length, data
            raw.seek(at + 4)
            length = raw.read(4)
            if len(length) < 4:
                return True
            at += 8 + int.from_bytes(length, "little")
            continue
        if magic != _ZSTD_MAGIC:
            return False  # not a frame: the decompressor has judged that data already
        if len(head) < 5:
            return True
        descriptor = head[4]
        single = bool(descriptor & 0x20)
        fcs = _FCS_SIZES[descriptor >> 6] or (1 if single else 0)
        at += 5 + (0 if single else 1) + _DID_SIZES[descriptor & 0x03] + fcs
        checksum = 4 if descriptor & 0x04 else 0
        while True:
            raw.seek(at)
            block = raw.read(3)
            if len(block) < 3:
                return True
            header = int.from_bytes(block, "little")
            last, kind, block_size = header & 1, (header >> 1) & 3, header >> 3
            at += 3 + (1 if kind == 1 else block_size)
            if last:
                break
        at += checksum
    return at > size


# lz4-java's LZ4BlockOutputStream (net.jpountz.lz4, lz4-java-1.8.0.jar): each block is a 21-byte header, the magic
# "LZ4Block", a token byte (method in the high nibble: 0x10 stored raw, 0x20 LZ4; log2(block size) - 10 in the low
# nibble), then little-endian int32 compressed length, decompressed length and XXHash32 checksum (seed 0x9747b28c,
# masked to 28 bits), then the block. finish() writes an empty raw block as the end mark; another stream may follow.
# The checksum is not verified (it would need an XXHash32 implementation); a corrupt block fails to decompress.
_LZ4_HEADER = struct.Struct("<8sBiii")
_LZ4_RAW, _LZ4_COMPRESSED = 0x10, 0x20


def _lz4_blocks(raw: IO[bytes], path: Path) -> Iterator[bytes]:
    import lz4.block

    while True:
        header = raw.read(_LZ4_HEADER.size)
        if not header:
            return
        if len(header) < _LZ4_HEADER.size:
            raise _TruncatedError
        magic, token, compressed, original, _checksum = _LZ4_HEADER.unpack(header)
        method = token & 0xF0
        if magic != _LZ4_MAGIC or method not in (_LZ4_RAW, _LZ4_COMPRESSED) or compressed < 0 or original < 0:
            raise EventLogError(f"{path}: not an lz4-java LZ4Block stream at byte {raw.tell() - len(header)}; the "
                                "file is damaged or its suffix does not match its codec")
        if original == 0:
            continue  # the end mark of one stream; a concatenated stream may follow
        block = raw.read(compressed)
        if len(block) < compressed:
            raise _TruncatedError
        yield block if method == _LZ4_RAW else lz4.block.decompress(block, uncompressed_size=original)


# snappy-java's SnappyOutputStream (org.xerial.snappy, snappy-java-1.1.10.7.jar): a 16-byte header (the magic
# 0x82 "SNAPPY" 0x00, then big-endian int32 version and minimum compatible version, both 1), then chunks of a
# big-endian int32 length and that many bytes of raw snappy. SnappyInputStream accepts a new header where a chunk
# length is expected (concatenated streams), and so does this reader.
_SNAPPY_MAGIC = b"\x82SNAPPY\x00"
_SNAPPY_HEADER_SIZE = 16


def _snappy_chunks(raw: IO[bytes], path: Path) -> Iterator[bytes]:
    import cramjam

    header = raw.read(_SNAPPY_HEADER_SIZE)
    if len(header) < _SNAPPY_HEADER_SIZE or not header.startswith(_SNAPPY_MAGIC):
        if _SNAPPY_MAGIC.startswith(header):
            raise _TruncatedError
        raise EventLogError(f"{path}: not a snappy-java SnappyOutputStream (no SNAPPY header); the file is "
                            "damaged or its suffix does not match its codec")
    while True:
        size_bytes = raw.read(4)
        if not size_bytes:
            return
        if len(size_bytes) < 4:
            raise _TruncatedError
        if size_bytes == _SNAPPY_MAGIC[:4]:
            rest = raw.read(_SNAPPY_HEADER_SIZE - 4)
            if len(rest) < _SNAPPY_HEADER_SIZE - 4:
                raise _TruncatedError
            continue
        (size,) = struct.unpack(">i", size_bytes)
        if size < 0:
            raise EventLogError(f"{path}: negative snappy chunk length at byte {raw.tell() - 4}; the file is "
                                "damaged")
        chunk = raw.read(size)
        if len(chunk) < size:
            raise _TruncatedError
        yield bytes(cramjam.snappy.decompress_raw(chunk))
