"""Library module, not a job: the sales ETL's transforms, pure DataFrame -> DataFrame functions.

Only files with a ``main()`` entry point are jobs; this one is imported by ``sales_etl.py``.

Everything here is a DataFrame expression: no Python UDFs, because executors cannot import this module (only
the driver has the jobs folder on ``sys.path``). Each function can be tested on a tiny DataFrame.

Money is exact: an amount is parsed to ``DECIMAL(18,2)`` and sums stay decimal (``DECIMAL(28,2)``, Spark's
rule of precision + 10 for a sum), so nothing binary, infinite or NaN can reach an output.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

COLUMNS = ("order_id", "city", "category", "amount", "quantity", "date")
AMOUNT_TYPE = "decimal(18,2)"  # one amount: up to 9,999,999,999,999,999.99
SUM_TYPE = "decimal(28,2)"  # a sum of amounts: Spark's sum rule, precision + 10
AVERAGE_TYPE = "decimal(18,2)"  # an average of amounts fits the amount's type

# Why a line was rejected; the first failing check wins, in this order.
MULTILINE = "multiline_record"
BAD_ENCODING = "bad_encoding"
BAD_QUOTING = "bad_quoting"
FIELD_COUNT = "wrong_field_count"
MISSING = "missing_value"
BAD_AMOUNT = "bad_amount"
BAD_QUANTITY = "bad_quantity"
BAD_DATE = "bad_date"
REASONS = (MULTILINE, BAD_ENCODING, BAD_QUOTING, FIELD_COUNT, MISSING, BAD_AMOUNT, BAD_QUANTITY, BAD_DATE)
# Empty lines and lines of spaces are not data rows (Spark's CSV reader skips them too); counted, not rejected.
BLANK_LINE = "blank_line"
DATES = (datetime.date(1000, 1, 1), datetime.date(9999, 12, 31))  # four-digit years only
IN_ORDER = tuple(range(len(COLUMNS)))  # a file without a header
GROUP_KEYS = ("city", "category", "month", "reason", "raw", "source_file")

# The CSV dialect (docs/jobs.md): a field that starts with a quote is quoted and ends at the next lone quote
# ("" inside it is one quote); any other field runs to the next comma and may contain quotes. A line with a
# quote, with a comma put in front, is cut into tokens: a comma and then either a quoted field plus whatever
# follows it up to the next comma, or plain text up to the next comma. A quoted field with no closing quote on
# its line falls back to the plain branch. Possessive quantifiers: Java's regex then neither backtracks nor
# recurses per character, so a line of any width or with any number of quotes is one pass (checked with 30,000
# fields and with 200,000 escaped quotes in one field). Only scalar expressions are used: a higher-order
# function (``transform``, ``exists``) has no code generation in Spark 4.0.4 and would take the whole scan
# out of whole-stage code generation (measured: the 15M-row run about 1.5x slower).
_QUOTED_FIELD = r',"[^"]*+(?:""[^"]*+)*+"'  # a comma and a closed quoted field
_TOKEN = r',("[^"]*+(?:""[^"]*+)*+"[^,]*+|[^,]*+)'


def _unquoted(value: Column) -> Column:
    """A field's value: a quoted field without its quotes and with ``""`` as ``"``; plain text as it is."""
    inner = F.replace(value.substr(F.lit(2), F.length(value) - 2), F.lit('""'), F.lit('"'))
    return F.when(value.startswith('"'), inner).otherwise(value)


def split_fields(lines: DataFrame, positions: Sequence[int] | Column = IN_ORDER) -> DataFrame:
    """Add each line's fields (``_order_id`` .. ``_date``, spaces around them removed) and their count ``_n``.

    ``positions[i]`` is the field holding ``COLUMNS[i]`` (from the file's header): a sequence of numbers, or an
    ``array<int>`` column when files with different layouts share the scan. Lines without a quote character are
    split on commas, the cheapest per-row path; lines with one are cut by the dialect's rules, so
    ``"Chicago, IL"`` is one field, ``"Quoted City"`` is ``Quoted City`` and ``TV 55" screens`` keeps its quote.
    A field of a line without quotes never starts with one, so unquoting applies to every line alike.

    ``_open`` marks a line that ends inside a quoted field (a record spanning lines, see
    ``multiline_correction``) and ``_stray`` one with text between a closing quote and the next comma. Both are
    read from the line with each closed quoted field replaced by a line break (which no line contains): then a
    field that still starts with a quote is open, and a line break followed by anything but a comma is stray.
    Regex replacement consumes matches from the left, so it never starts inside a quoted field it has replaced.

    The expressions are kept few on purpose: the scan's per-row code is one generated Java method, and HotSpot
    does not compile a method over 8,000 bytes of bytecode (``-XX:HugeMethodLimit``): such a scan runs
    interpreted, about 2x slower. ``tests/test_sales_transforms.py`` checks the size.
    """
    quoted = F.col("raw").contains('"')
    per_file = isinstance(positions, Column)
    line = F.concat(F.lit(","), F.col("raw"))
    staged = lines.select(
        "raw", "source_file", quoted.alias("_q"), *([positions.alias("_pos")] if per_file else []),
        F.when(quoted, F.regexp_extract_all(line, F.lit(_TOKEN), 1)).otherwise(F.split("raw", ",", -1))
        .alias("_values"),
        F.when(quoted, F.regexp_replace(line, _QUOTED_FIELD, ",\n")).alias("_shape"),
    )
    at = (lambda i: F.col("_pos")[i]) if per_file else (lambda i: F.lit(positions[i]))
    picked = staged.select(
        "raw", "source_file",
        F.size("_values").alias("_n"),
        (F.col("_q") & F.col("_shape").contains(',"')).alias("_open"),
        (F.col("_q") & F.col("_shape").rlike("\n[^,]")).alias("_stray"),
        *(F.get(F.col("_values"), at(i)).alias(f"_v{i}") for i in range(len(COLUMNS))),
    )
    return picked.select(
        "raw", "source_file", "_n", "_open", "_stray",
        *(F.trim(_unquoted(F.col(f"_v{i}"))).alias(f"_{name}") for i, name in enumerate(COLUMNS)),
    )


def _date_ok(text: Column, date: Column) -> Column:
    """Whether ``date`` (``try_cast(text as date)``) came from strict ``yyyy-MM-dd`` with a year of four digits.

    The cast rejects impossible dates (2025-02-30) but is lenient about layout: besides ``yyyy-MM-dd`` it takes
    one-digit months and days, longer or zero-padded years, a leading sign and anything after a ``T`` or a space
    (``SparkDateTimeUtils.stringToDate``, spark-sql-api 4.0.4). Of those, only layouts with a ``T``, a space, a
    sign, a leading zero or a year outside 1000..9999 can be ten bytes long, so these cheap byte checks pin the
    layout (a regex, a position search or a pattern-based parser costs several times more per row).
    ``tests/test_sales_transforms.py`` checks this against a strict parser on generated strings.
    """
    return (
        date.between(F.lit(DATES[0]), F.lit(DATES[1]))
        & (F.octet_length(text) == 10)
        & ~text.startswith("0")
        & ~text.startswith("+")
        & ~text.contains("T")
        & ~text.contains(" ")
    )


def _amount_ok(text: Column, value: Column, dot: Column) -> Column:
    """Whether ``value`` (``try_cast(text as AMOUNT_TYPE)``) is an acceptable amount; ``dot`` is ``instr(text, '.')``.

    Plain decimal notation only (an optional ``+``, ASCII digits, at most two after the point): an exponent, a
    third decimal (which the cast would round away), a value beyond the type, zero or a negative amount is
    rejected, and so are other scripts' digits (``BigDecimal``, behind the cast, reads ``١٢`` and ``１２``).
    """
    return (
        value.isNotNull()
        & (value > 0)
        & (F.octet_length(text) == F.length(text))  # ASCII digits only: the cast also reads '١٢' as 12
        & ((dot == 0) | (F.octet_length(text) - dot <= 2))
        & ~text.contains("e")
        & ~text.contains("E")
    )


def parse_lines(lines: DataFrame, positions: Sequence[int] | Column = IN_ORDER) -> DataFrame:
    """Split and type each line (``raw``, ``source_file``) and give the reason it is rejected (null: valid).

    All conversions are ``try_*`` (null instead of an error; Spark 4 runs with ANSI mode on, where plain
    casts fail the job), and a null or out-of-range value rejects the line. Spaces around values are ignored.

    Each conversion is its own column, computed once and then referenced by the checks: written inline, the
    cast in a ``CASE WHEN`` branch would be generated (and run) once per reference, because Spark does not
    share expressions between conditional branches. A column referenced twice keeps Spark from merging the
    projections again (``CollapseProject`` only inlines expensive expressions used once).
    """
    names = [f"_{name}" for name in COLUMNS]
    typed = split_fields(lines, positions).select(
        "raw", "source_file", "_n", "_open", "_stray", *names,
        F.col("_amount").try_cast(AMOUNT_TYPE).alias("_amount_value"),
        F.instr("_amount", ".").alias("_dot"),
        F.col("_quantity").try_cast("int").alias("_quantity_value"),
        F.col("_date").try_cast("date").alias("_date_cast"),
    )
    checked = typed.select(
        "raw", "source_file", "_n", "_open", "_stray", *names, "_amount_value", "_quantity_value",
        _amount_ok(F.col("_amount"), F.col("_amount_value"), F.col("_dot")).alias("_amount_ok"),
        F.when(_date_ok(F.col("_date"), F.col("_date_cast")), F.col("_date_cast")).alias("_date_value"),
    )
    any_blank = None
    for name in names:
        blank = F.col(name).isNull() | (F.col(name) == "")
        any_blank = blank if any_blank is None else any_blank | blank
    quantity, date = F.col("_quantity_value"), F.col("_date_value")
    reason = (
        F.when((F.col("_n") == 1) & (F.trim("raw") == ""), F.lit(BLANK_LINE))
        .when(F.col("_open"), F.lit(MULTILINE))
        .when(~F.is_valid_utf8("raw"), F.lit(BAD_ENCODING))
        .when(F.col("_stray"), F.lit(BAD_QUOTING))
        .when(F.col("_n") != len(COLUMNS), F.lit(FIELD_COUNT))
        .when(any_blank, F.lit(MISSING))
        .when(~F.col("_amount_ok"), F.lit(BAD_AMOUNT))
        .when(quantity.isNull() | (quantity <= 0), F.lit(BAD_QUANTITY))
        .when(date.isNull(), F.lit(BAD_DATE))
    )
    return checked.select(
        "raw", "source_file", reason.alias("reason"),
        F.col("_order_id").alias("order_id"), F.col("_city").alias("city"),
        F.col("_category").alias("category"), F.col("_amount_value").alias("amount"), quantity.alias("quantity"),
        date.alias("date"), F.month(date).alias("month"),
    )


def aggregate(parsed: DataFrame) -> DataFrame:
    """One aggregation for everything: valid rows by (city, category, month), rejects by line.

    Valid rows have null ``reason``/``raw``/``source_file``; rejected rows have null city, category and month
    and are grouped by their raw text and file. ``orders`` counts input lines, ``records`` the entries the
    rejected output gets (the same here; a quoted field spanning lines makes several lines one record). The
    result is small whatever the input size: at most cities x categories x 12 groups plus the distinct bad lines.
    """
    ok = F.col("reason").isNull()
    keyed = parsed.select(
        F.when(ok, F.col("city")).alias("city"),
        F.when(ok, F.col("category")).alias("category"),
        F.when(ok, F.col("month")).alias("month"),
        "reason",
        F.when(~ok, F.col("raw")).alias("raw"),
        F.when(~ok, F.col("source_file")).alias("source_file"),
        F.when(ok, F.col("amount")).alias("amount"),
        F.when(ok, F.col("quantity")).alias("quantity"),
    )
    counted = keyed.groupBy(*GROUP_KEYS).agg(
        F.sum("amount").cast(SUM_TYPE).alias("revenue"),
        F.count(F.lit(1)).alias("orders"),
        F.sum("quantity").cast("long").alias("items"),
    )
    return counted.withColumn("records", F.col("orders"))


def multiline_correction(member_groups: DataFrame, records: DataFrame) -> DataFrame:
    """Groups that turn the lines of quoted fields spanning lines into one rejected record each.

    ``member_groups`` is ``aggregate(parse_lines(...))`` of exactly those lines (as the scan saw them, each on
    its own); they are subtracted. ``records`` (``raw``, ``source_file``, ``lines``) holds each such record with
    its lines joined by ``\\n``; it is added as one ``multiline_record`` reject counting its lines. Union the
    result with the scan's groups and ``regroup``.
    """
    negated = member_groups.select(
        *GROUP_KEYS, (-F.col("revenue")).alias("revenue"), (-F.col("orders")).alias("orders"),
        (-F.col("items")).alias("items"), (-F.col("records")).alias("records"),
    )
    added = records.select(
        F.lit(None).cast("string").alias("city"), F.lit(None).cast("string").alias("category"),
        F.lit(None).cast("int").alias("month"), F.lit(MULTILINE).alias("reason"), "raw", "source_file",
        F.lit(None).cast(SUM_TYPE).alias("revenue"), F.col("lines").cast("long").alias("orders"),
        F.lit(None).cast("long").alias("items"), F.lit(1).cast("long").alias("records"),
    )
    return negated.unionByName(added)


def regroup(groups: DataFrame) -> DataFrame:
    """Sum groups that share a key (after a correction) and drop the ones that cancelled out."""
    summed = groups.groupBy(*GROUP_KEYS).agg(
        F.sum("revenue").cast(SUM_TYPE).alias("revenue"), F.sum("orders").alias("orders"),
        F.sum("items").alias("items"), F.sum("records").alias("records"),
    )
    return summed.where(F.col("orders") != 0)


def nfc(text: Column) -> Column:
    """Unicode normalisation form C, so ``São Paulo`` typed with a combining tilde is the same city.

    Spark 4.0.4 has no normalisation function; ICU4J ships with it (for collations) and its static
    ``Normalizer.compose(String, boolean)`` (``false``: canonical, i.e. NFC) can be called through ``reflect``.
    It runs on the small aggregated groups only, never per input row.
    """
    return F.call_function("reflect", F.lit("com.ibm.icu.text.Normalizer"), F.lit("compose"), text, F.lit(False))


def _valid(groups: DataFrame) -> DataFrame:
    """The valid groups with city and category names in NFC (the outputs group them again anyway)."""
    return groups.where(F.col("reason").isNull()).withColumns(
        {"city": nfc(F.col("city")), "category": nfc(F.col("category"))})


def _ordered(df: DataFrame, *order: Column | str) -> DataFrame:
    """A single, fully ordered partition: same rows in the same order on every run."""
    return df.coalesce(1).sortWithinPartitions(*order)


def _half_up_average(total: str, count: str) -> Column:
    """``total / count`` rounded half up to cents, in whole cents with integer division: no intermediate rounding.

    (Decimal division in Spark rounds to a fixed scale first, which could round twice for very large counts.)
    """
    twice_cents = f"CAST({total} * 100 AS DECIMAL(38,0)) * 2"
    return (F.expr(f"CAST(({twice_cents} + {count}) DIV ({count} * 2) AS DECIMAL(20,0))") / 100).cast(AVERAGE_TYPE)


def city_revenue(groups: DataFrame) -> DataFrame:
    """Revenue by city (tutorial: ``city_revenue``), largest first; the average is rounded half up to cents."""
    totals = _valid(groups).groupBy("city").agg(
        F.sum("revenue").cast(SUM_TYPE).alias("total_revenue"),
        F.sum("orders").alias("total_orders"),
        F.sum("items").alias("total_items"),
    )
    result = totals.select(
        "city", "total_revenue", _half_up_average("total_revenue", "total_orders").alias("avg_order_value"),
        "total_orders", "total_items",
    )
    return _ordered(result, F.desc("total_revenue"), "city")


def monthly_categories(groups: DataFrame) -> DataFrame:
    """Revenue and orders by month and category (tutorial: ``monthly_categories``)."""
    result = _valid(groups).groupBy("month", "category").agg(
        F.sum("revenue").cast(SUM_TYPE).alias("revenue"), F.sum("orders").alias("orders")
    )
    return _ordered(result, "month", F.desc("revenue"), "category")


def cross_tab(groups: DataFrame) -> DataFrame:
    """Revenue by city and category (tutorial: ``cross_tab``)."""
    result = _valid(groups).groupBy("city", "category").agg(F.sum("revenue").cast(SUM_TYPE).alias("revenue"))
    return _ordered(result, F.desc("revenue"), "city", "category")


def rejected_rows(groups: DataFrame) -> DataFrame:
    """One row per rejected record: its file (decoded from Spark's URI form), reason and exact raw text."""
    rejected = groups.where(F.col("reason").isNotNull() & (F.col("reason") != BLANK_LINE)).select(
        F.url_decode(F.regexp_replace("source_file", r"\+", "%2B")).alias("source_file"),
        "reason", F.col("raw").alias("raw_line"),
        F.explode(F.array_repeat(F.lit(1), F.col("records").cast("int"))).alias("_copy"),
    )
    return _ordered(rejected.drop("_copy"), "source_file", "raw_line")


def tally(groups: DataFrame) -> DataFrame:
    """Line counts per reason and per valid (city, category, month) key: a few thousand rows.

    One small collect of this gives the summary's counts and every output's row count, without a separate
    Spark job per number.
    """
    named = groups.withColumns({name: F.when(F.col("reason").isNull(), nfc(F.col(name)))
                                for name in ("city", "category")})
    return named.groupBy("reason", "city", "category", "month").agg(F.sum("orders").alias("rows"))
