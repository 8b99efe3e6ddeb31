"""The generator: the tutorial's exact bytes by default; skew and scale modes produce valid data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.job_modules import load_job

JOBS = Path(__file__).resolve().parent.parent / "jobs"
TUTORIAL_CITIES = ["New York", "Los Angeles", "Chicago", "Houston", "Phoenix",
                   "Philadelphia", "San Antonio", "San Diego", "Dallas", "Austin"]
TUTORIAL_CATEGORIES = ["Electronics", "Clothing", "Food", "Books", "Sports",
                       "Home", "Garden", "Automotive", "Health", "Toys"]
HEADER = "order_id,city,category,amount,quantity,date"


generate_data = load_job("generate_data")


def tutorial_files(files: int = 3, rows: int = 50_000, seed: int = 42) -> dict[str, bytes]:
    """The tutorial's generator, written out plainly as an independent reference."""
    random.seed(seed)
    result = {}
    for file_num in range(files):
        buf = io.StringIO(newline="")
        writer = csv.writer(buf)
        writer.writerow(["order_id", "city", "category", "amount", "quantity", "date"])
        for i in range(rows):
            order_id = f"ORD-{file_num}-{i:06d}"
            city = random.choice(TUTORIAL_CITIES)
            category = random.choice(TUTORIAL_CATEGORIES)
            amount = round(random.uniform(5.0, 500.0), 2)
            quantity = random.randint(1, 20)
            day = random.randint(1, 28)
            month = random.randint(1, 12)
            writer.writerow([order_id, city, category, amount, quantity, f"2025-{month:02d}-{day:02d}"])
        result[f"sales_{file_num}.csv"] = buf.getvalue().encode()
    return result


def read_rows(directory: Path) -> list[list[str]]:
    """All data rows of all files, checking each file's header and line endings on the way."""
    rows = []
    for path in sorted(directory.glob("sales_*.csv")):
        text = path.read_bytes().decode()
        assert text.startswith(HEADER + "\r\n")
        assert text.endswith("\r\n") and text.count("\n") == text.count("\r\n")
        rows += list(csv.reader(io.StringIO(text, newline="")))[1:]
    return rows


def assert_valid_row(row: list[str]) -> None:
    """A row the ETL accepts, with the tutorial generator's value ranges."""
    assert len(row) == 6, row
    order_id, city, category, amount, quantity, date = row
    assert order_id.startswith("ORD-") and city and category in TUTORIAL_CATEGORIES
    assert 5.0 <= float(amount) <= 500.0 and round(float(amount), 2) == float(amount)
    assert 1 <= int(quantity) <= 20
    parsed = dt.date.fromisoformat(date)
    assert parsed.year == 2025 and 1 <= parsed.day <= 28 and date == parsed.isoformat()


def test_defaults_reproduce_the_tutorial_bytes(tmp_path: Path) -> None:
    assert generate_data.main(["--output", str(tmp_path)]) == 0
    expected = tutorial_files()
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert written.keys() == expected.keys()
    for name, data in expected.items():
        assert written[name] == data, name
        assert data.count(b"\r\n") == 50_001
    assert len(read_rows(tmp_path)) == 150_000


def test_options_follow_the_same_algorithm(tmp_path: Path) -> None:
    assert generate_data.main(["--output", str(tmp_path), "--files", "2", "--rows-per-file", "250",
                               "--seed", "7"]) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == tutorial_files(2, 250, 7)


def test_skew_puts_the_requested_share_in_one_city(tmp_path: Path) -> None:
    assert generate_data.main(["--output", str(tmp_path), "--rows-per-file", "4000",
                               "--skew-city", "New York", "--skew-ratio", "0.8"]) == 0
    rows = read_rows(tmp_path)
    assert len(rows) == 12_000 and len({r[0] for r in rows}) == 12_000
    for row in rows:
        assert_valid_row(row)
    cities = Counter(r[1] for r in rows)
    assert abs(cities["New York"] / len(rows) - 0.8) < 0.02
    assert set(cities) == set(TUTORIAL_CITIES)  # the other 20 % still spread over the rest


@pytest.mark.parametrize("workers", ["1", "2"])  # in this process, and in a pool of worker processes
@pytest.mark.parametrize("skew", [[], ["--skew-city", "Austin", "--skew-ratio", "0.5"]])
def test_scale_mode_makes_valid_unique_rows(tmp_path: Path, skew: list[str], workers: str) -> None:
    rows_per_file = 12_345  # not a multiple of the generator's internal block size
    assert generate_data.main(["--output", str(tmp_path), "--scale", "--files", "3",
                               "--rows-per-file", str(rows_per_file), "--workers", workers, *skew]) == 0
    rows = read_rows(tmp_path)
    assert len(rows) == 3 * rows_per_file
    assert len({r[0] for r in rows}) == len(rows)
    for row in rows:
        assert_valid_row(row)
    cities = Counter(r[1] for r in rows)
    assert set(cities) == set(TUTORIAL_CITIES)
    if skew:
        assert abs(cities["Austin"] / len(rows) - 0.5) < 0.03
    else:  # same uniform distributions as the tutorial's generator
        assert max(cities.values()) / min(cities.values()) < 1.2
        assert 240 < sum(float(r[3]) for r in rows) / len(rows) < 265
        assert {int(r[4]) for r in rows} == set(range(1, 21))
        assert {r[5][5:7] for r in rows} == {f"{m:02d}" for m in range(1, 13)}


def test_scale_mode_is_not_the_exact_mode(tmp_path: Path) -> None:
    """Scale mode never stands in for the tutorial data: its bytes differ, the defaults do not."""
    assert generate_data.main(["--output", str(tmp_path), "--scale", "--rows-per-file", "2000"]) == 0
    exact = tutorial_files(3, 2000)
    assert (tmp_path / "sales_0.csv").read_bytes() != exact["sales_0.csv"]


@pytest.mark.parametrize(("bad", "why"), [
    (["--skew-city", "Austin", "--skew-ratio", "1.5"], "--skew-ratio must be between 0 and 1"),
    (["--skew-city", "Austin, TX"], "--skew-city must be a plain name (not empty, no commas"),
    (["--files", "0"], "--files must be >= 1 and --rows-per-file >= 0"),
])
def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, bad: list[str],
                                   why: str) -> None:
    """Each refusal says what is wrong with which flag (the usage line alone names every flag)."""
    with pytest.raises(SystemExit) as exited:
        generate_data.main(["--output", str(tmp_path), *bad])
    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].split(": error: ", 1)[1].startswith(why), errors
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("bad, fragment", [
    (["--skew-ratio", "0.5"], "--skew-ratio needs --skew-city"),
    (["--output-is-a-file"], "is a file"),
])
def test_refused_with_a_message_not_a_traceback(tmp_path: Path, bad: list[str], fragment: str) -> None:
    """Run as the generator Job runs it (python3, its own process): a usage error, exit 2, nothing written."""
    output = tmp_path / "out"
    if bad == ["--output-is-a-file"]:
        output.write_text("not a directory")
        bad = []
    proc = subprocess.run([sys.executable, str(JOBS / "generate_data.py"), "--output", str(output), *bad],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if output.exists() else [])


def test_skew_ratio_defaults_to_80_percent_and_may_be_0_or_1(tmp_path: Path) -> None:
    args = ["--output", str(tmp_path)]
    assert generate_data.parse_args([*args, "--skew-city", "Austin"]).skew_ratio == 0.8
    for ratio in ("0", "1"):
        assert generate_data.parse_args([*args, "--skew-city", "Austin", "--skew-ratio", ratio]).skew_ratio == \
            float(ratio)
    parsed = generate_data.parse_args(args)
    assert (parsed.files, parsed.rows_per_file, parsed.seed, parsed.skew_city, parsed.scale) == (3, 50_000, 42, None,
                                                                                               False)
    assert generate_data.parse_args([*args, "--rows-per-file", "0"]).rows_per_file == 0


@pytest.mark.parametrize(("bad", "why"), [
    (["--skew-city", "Austin", "--skew-ratio", "-0.01"], "--skew-ratio must be between 0 and 1"),
    (["--skew-city", " "], "--skew-city must be a plain name (not empty, no commas, quotes or line breaks)"),
    (["--skew-city", 'Austin "TX"'], "--skew-city must be a plain name"),
    (["--skew-city", "Austin\nTX"], "--skew-city must be a plain name"),
    (["--rows-per-file", "-1"], "--files must be >= 1 and --rows-per-file >= 0")])
def test_more_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, bad: list[str],
                                        why: str) -> None:
    with pytest.raises(SystemExit):
        generate_data.parse_args(["--output", str(tmp_path), *bad])
    assert capsys.readouterr().err.splitlines()[-1].split(": error: ", 1)[1].startswith(why)


def test_a_file_as_output_is_refused_naming_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("x")
    with pytest.raises(SystemExit):
        generate_data.parse_args(["--output", str(target)])
    assert capsys.readouterr().err.splitlines()[-1].split(": error: ", 1)[1] == (
        f"--output {target} is a file; give a directory for the sales_N.csv files")


def test_the_run_report_and_an_earlier_runs_extra_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Each file with its rows and bytes, the totals, and a warning for a sales_N.csv the ETL would also read."""
    (tmp_path / "sales_2.csv").write_text("from an earlier run of three files")
    (tmp_path / "notes.csv").write_text("not ours")
    assert generate_data.main(["--output", str(tmp_path), "--files", "2", "--rows-per-file", "3", "--skew-city",
                               "Austin", "--skew-ratio", "1"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    for n in (0, 1):
        path = tmp_path / f"sales_{n}.csv"
        assert lines[n] == f"wrote {path} (3 rows, {path.stat().st_size:,} bytes)"
        assert [r[1] for r in list(csv.reader(io.StringIO(path.read_text(), newline="")))[1:]] == ["Austin"] * 3
    assert lines[2].startswith("6 rows in 2 files, exact mode, seed 42, 100% of orders in Austin: ")
    assert err == f"warning: {tmp_path / 'sales_2.csv'} is from an earlier run and will also be read by the ETL\n"


def test_a_skew_of_0_never_picks_the_city_and_a_city_outside_the_list_is_allowed() -> None:
    rng = random.Random(3)
    none = [generate_data.draw_row(rng, generate_data.Skew("Austin", 0.0))[0] for _ in range(500)]
    assert "Austin" not in none and set(none) == set(TUTORIAL_CITIES) - {"Austin"}
    elsewhere = [generate_data.draw_row(rng, generate_data.Skew("Boise", 0.5))[0] for _ in range(500)]
    assert 200 < elsewhere.count("Boise") < 300 and set(elsewhere) == {"Boise", *TUTORIAL_CITIES}


def test_scale_rows_number_in_order_with_a_pool_smaller_than_a_block() -> None:
    """Order ids run ORD-<file>-000000 upwards across blocks of 1,000; a pool smaller than a block is reused."""
    rng = random.Random(1)
    pool = generate_data.tail_pool(rng, None, size=7)
    text = b"".join(generate_data.scale_blocks(4, 2500, rng, pool)).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[0] for r in rows] == [f"ORD-4-{i:06d}" for i in range(2500)]
    tails = {("," + ",".join(r[1:]) + "\r\n").encode() for r in rows}
    assert tails <= set(pool) and len(tails) == 7
