"""Generate the tutorial's sales CSV files, optionally skewed or at benchmark scale.

Two modes share one row model (``draw_row``):

* exact (default): one ``random.Random(seed)`` stream for all files, consumed in the
  tutorial's order, rows written by ``csv.writer``. With the default arguments the files are
  byte-for-byte the tutorial's dataset.
* ``--scale``: for benchmarks. Each file draws a pool of random row tails with the same row
  model, then emits rows as a unique order_id prefix plus a random window of the pool. All
  per-row work happens in C (bytes ``join``/``map``), and files are written in parallel
  processes, which reaches millions of rows per second without numpy.

A job (it has a ``main()`` entry point): ``python3 jobs/generate_data.py --output DIR [--files N]
[--rows-per-file N] [--seed N]``. Runs on the Spark image's plain Python (3.10+, standard library only).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CITIES = (
    "New York", "Los Angeles", "Chicago", "Houston", "Phoenix",
    "Philadelphia", "San Antonio", "San Diego", "Dallas", "Austin",
)
CATEGORIES = (
    "Electronics", "Clothing", "Food", "Books", "Sports",
    "Home", "Garden", "Automotive", "Health", "Toys",
)
HEADER = ("order_id", "city", "category", "amount", "quantity", "date")

# Scale mode: rows are emitted in blocks of BLOCK consecutive order numbers; each block takes a
# random window of POOL_SIZE pre-drawn row tails, so values keep the row model's distributions.
BLOCK = 1000
POOL_SIZE = 1 << 16
BLOCKS_PER_WRITE = 256


@dataclass(frozen=True)
class Skew:
    """Put ``ratio`` of the orders in ``city``; the rest spread evenly over the other cities."""

    city: str
    ratio: float


@dataclass(frozen=True)
class FileResult:
    """What was written for one file, for the run report."""

    path: Path
    rows: int
    size: int


def draw_row(rng: random.Random, skew: Skew | None = None) -> tuple[str, str, float, int, str]:
    """Draw one row's values after the order_id, in the tutorial's order of random calls.

    Without skew this is exactly the tutorial's sequence (choice, choice, uniform, randint for the
    quantity, the day, then the month), which is what makes the default output byte-identical.
    """
    if skew is None:
        city = rng.choice(CITIES)
    elif rng.random() < skew.ratio:
        city = skew.city
    else:
        city = rng.choice([c for c in CITIES if c != skew.city] or CITIES)
    category = rng.choice(CATEGORIES)
    amount = round(rng.uniform(5.0, 500.0), 2)
    quantity = rng.randint(1, 20)
    day = rng.randint(1, 28)
    month = rng.randint(1, 12)
    return city, category, amount, quantity, f"2025-{month:02d}-{day:02d}"


def order_id(file_num: int, index: int) -> str:
    """Order ids are unique across files: the file number plus a zero-padded row index."""
    return f"ORD-{file_num}-{index:06d}"


def exact_rows(rng: random.Random, file_num: int, rows: int, skew: Skew | None) -> Iterator[list]:
    """Yield one file's rows from the shared random stream (tutorial order)."""
    for i in range(rows):
        yield [order_id(file_num, i), *draw_row(rng, skew)]


def write_atomically(path: Path, write: Callable[[IO], None], text: bool = False) -> int:
    """Write via a temporary name so a reader globbing ``*.csv`` never sees a partial file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") if text else open(tmp, "wb") as out:
        write(out)
    os.replace(tmp, path)
    return path.stat().st_size


def write_exact(out_dir: Path, files: int, rows: int, seed: int, skew: Skew | None) -> list[FileResult]:
    """The tutorial's algorithm: one seeded stream, csv.writer with its default dialect."""
    rng = random.Random(seed)
    results = []
    for file_num in range(files):
        path = out_dir / f"sales_{file_num}.csv"

        def write(out: IO[str], file_num: int = file_num) -> None:
            writer = csv.writer(out)  # default dialect: minimal quoting, "\r\n" line endings
            writer.writerow(HEADER)
            writer.writerows(exact_rows(rng, file_num, rows, skew))

        results.append(FileResult(path, rows, write_atomically(path, write, text=True)))
    return results


def csv_line(fields: list | tuple) -> str:
    """Format one row exactly as csv.writer would (quoting, "\\r\\n" terminator)."""
    buf = io.StringIO()
    csv.writer(buf).writerow(fields)
    return buf.getvalue()


def tail_pool(rng: random.Random, skew: Skew | None, size: int = POOL_SIZE) -> list[bytes]:
    """Pre-draw row tails (",city,...,date\\r\\n") with the same row model as the exact mode."""
    return [("," + csv_line(draw_row(rng, skew))).encode() for _ in range(size)]


def scale_blocks(file_num: int, rows: int, rng: random.Random, pool: list[bytes]) -> Iterator[bytes]:
    """Yield big byte chunks of rows: per block, one C-level join of ids and a pool window."""
    suffixes = [b"%03d" % j for j in range(BLOCK)]
    window = min(BLOCK, len(pool))
    parts: list[bytes] = []
    for hi in range((rows + BLOCK - 1) // BLOCK):
        count = min(BLOCK, rows - hi * BLOCK)
        # f"{i:06d}" == f"{i // 1000:03d}{i % 1000:03d}", so a block shares its id prefix.
        prefix = b"ORD-%d-%03d" % (file_num, hi)
        start = rng.randrange(len(pool) - window + 1)
        tails = pool[start:start + count] if count <= window else [pool[j % len(pool)] for j in range(count)]
        parts.append(prefix)
        parts.append(prefix.join(map(bytes.__add__, suffixes[:count], tails)))
        if len(parts) >= 2 * BLOCKS_PER_WRITE:
            yield b"".join(parts)
            parts = []
    if parts:
        yield b"".join(parts)


def write_scale_file(out_dir: Path, file_num: int, rows: int, seed: int, skew: Skew | None) -> FileResult:
    """One scale-mode file; runs in a worker process, with its own seed derived from the file."""
    rng = random.Random(seed * 1_000_003 + file_num)
    pool = tail_pool(rng, skew)
    path = out_dir / f"sales_{file_num}.csv"

    def write(raw: IO[bytes]) -> None:
        raw.write(csv_line(HEADER).encode())
        for chunk in scale_blocks(file_num, rows, rng, pool):
            raw.write(chunk)

    return FileResult(path, rows, write_atomically(path, write))


def write_scale(
    out_dir: Path, files: int, rows: int, seed: int, skew: Skew | None, workers: int
) -> list[FileResult]:
    """Write the files in parallel processes (one file per task)."""
    if workers <= 1 or files <= 1:
        return [write_scale_file(out_dir, n, rows, seed, skew) for n in range(files)]
    with ProcessPoolExecutor(max_workers=min(workers, files)) as pool:
        futures = [pool.submit(write_scale_file, out_dir, n, rows, seed, skew) for n in range(files)]
        return [f.result() for f in futures]


def stale_files(out_dir: Path, files: int) -> list[Path]:
    """Earlier runs' extra ``sales_N.csv`` files that a ``*.csv`` reader would also pick up."""
    expected = {f"sales_{n}.csv" for n in range(files)}
    return sorted(p for p in out_dir.glob("sales_*.csv") if p.name not in expected)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="directory for sales_N.csv files")
    parser.add_argument("--files", type=int, default=3, help="number of files (default 3)")
    parser.add_argument("--rows-per-file", type=int, default=50_000,
                        help="data rows per file (default 50000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--skew-city", help="put --skew-ratio of the orders in this city")
    parser.add_argument("--skew-ratio", type=float, default=None,
                        help="share of orders in --skew-city (default 0.8; needs --skew-city)")
    parser.add_argument("--scale", action="store_true",
                        help="fast pooled generator for benchmarks (same distributions, not the exact bytes)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes for --scale (default: CPU count)")
    args = parser.parse_args(argv)
    if args.files < 1 or args.rows_per_file < 0:
        parser.error("--files must be >= 1 and --rows-per-file >= 0")
    if args.skew_ratio is not None and args.skew_city is None:
        parser.error("--skew-ratio needs --skew-city (the city that gets that share of the orders)")
    if args.skew_ratio is None:
        args.skew_ratio = 0.8
    if args.output.exists() and not args.output.is_dir():
        parser.error(f"--output {args.output} is a file; give a directory for the sales_N.csv files")
    if args.skew_city is not None and not 0.0 <= args.skew_ratio <= 1.0:
        parser.error("--skew-ratio must be between 0 and 1")
    if args.skew_city is not None and (not args.skew_city.strip() or set(args.skew_city) & set(',"\r\n')):
        parser.error("--skew-city must be a plain name (not empty, no commas, quotes or line breaks)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skew = Skew(args.skew_city, args.skew_ratio) if args.skew_city is not None else None
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"generate_data: cannot create --output {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    if args.scale:
        results = write_scale(args.output, args.files, args.rows_per_file, args.seed, skew, args.workers)
    else:
        results = write_exact(args.output, args.files, args.rows_per_file, args.seed, skew)
    elapsed = time.perf_counter() - started
    for r in results:
        print(f"wrote {r.path} ({r.rows:,} rows, {r.size:,} bytes)")
    total = sum(r.rows for r in results)
    mode = "scale" if args.scale else "exact"
    skew_note = f", {skew.ratio:.0%} of orders in {skew.city}" if skew else ""
    print(f"{total:,} rows in {len(results)} files, {mode} mode, seed {args.seed}{skew_note}: "
          f"{elapsed:.2f} s ({total / max(elapsed, 1e-9):,.0f} rows/s)")
    for path in stale_files(args.output, args.files):
        print(f"warning: {path} is from an earlier run and will also be read by the ETL", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
