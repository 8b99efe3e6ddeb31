"""The value rules of infra/values.py at their edges: each accepts what its consumer accepts, refuses what it
refuses, and says how to fix it. Expected values come from the consumers' own rules (cited), not from our code.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from infra.values import (
    AbsolutePath,
    Annotations,
    CpuQuantity,
    DnsLabel,
    DriverMemory,
    ExecutorMemory,
    Int32,
    Labels,
    PinnedImage,
    PositiveInt32,
    Quantity,
    SparkDuration,
    check_app_name,
    check_cron,
    check_time_zone,
    cpu_millis,
    image_spark_version,
    local_chart_problem,
    quantity_value,
    spark_size_bytes,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4


def refusal(kind: Any, value: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(kind).validate_python(value)
    return str(raised.value)


def reason(kind: Any, value: Any) -> str:
    """The rule's own message, exactly (pydantic prefixes a ValueError's text with "Value error, ")."""
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(kind).validate_python(value)
    [error] = raised.value.errors()
    return str(error["msg"]).removeprefix("Value error, ")


def accepts(kind: Any, value: Any) -> bool:
    return TypeAdapter(kind).validate_python(value) == value


# UnifiedMemoryManager (Spark 4.0.4): an executor needs 1.5 x 300 MiB = 450 MiB of spark.executor.memory; the
# driver's heap sits a little below -Xmx, so 512 MiB is the smallest driver memory that starts.
@pytest.mark.parametrize(("kind", "minimum", "smallest", "below"), [
    (ExecutorMemory, "450m", "450m", "449m"), (ExecutorMemory, "450m", "460800k", "460799k"),
    (DriverMemory, "512m", "512m", "511m"), (DriverMemory, "512m", "524288k", "524287k"),
])
def test_memory_minimums_are_spark_s(kind: Any, minimum: str, smallest: str, below: str) -> None:
    assert accepts(kind, smallest)
    message = refusal(kind, below)
    assert f"below Spark's minimum of {minimum}" in message and f"write at least '{minimum}'" in message


def test_a_size_spark_cannot_read_is_refused_before_its_minimum_is_checked() -> None:
    assert "not a Spark memory size" in refusal(ExecutorMemory, "1.5g")


@pytest.mark.parametrize(("value", "millis"), [("1", 1000), ("1.5", 1500), ("250m", 250), ("2k", 2_000_000)])
def test_cpu_millis_of_a_quantity(value: str, millis: int) -> None:
    assert cpu_millis(value) == millis


@pytest.mark.parametrize(("value", "says"), [
    ("0", "must be more than zero"), ("-1", "must be more than zero"), ("0.0005", "finer than a millicore"),
    ("1.2345", "finer than a millicore"),
])
def test_cpu_refusals_name_the_fix(value: str, says: str) -> None:
    message = refusal(CpuQuantity, value)
    assert says in message and "'500m'" in message


def test_a_whole_millicore_is_a_cpu() -> None:
    assert accepts(CpuQuantity, "1.001") and accepts(CpuQuantity, "1m")


# The distribution reference grammar (github.com/distribution/reference): tag [A-Za-z0-9_][A-Za-z0-9_.-]{0,127},
# digest sha256: and 64 lowercase hex digits.
@pytest.mark.parametrize("value", [
    "apache/spark:4.0.4-python3", f"apache/spark@{DIGEST}", f"apache/spark:4.0.4@{DIGEST}",
    "registry.local:5000/spark:4.0.4", "spark:_x", "spark:" + "a" * 128,
])
def test_pinned_images(value: str) -> None:
    assert accepts(PinnedImage, value)


@pytest.mark.parametrize(("value", "says"), [
    ("", "not an image reference"),
    ("apache/spark :4.0.4", "not an image reference"),
    ("apache/spark:4.0.4 ", "not an image reference"),
    ("apache/spark@sha256:abc", "has an invalid digest"),
    (f"apache/spark@{DIGEST.upper()}", "has an invalid digest"),
    ("apache/spark", "has no tag; pin an exact version, e.g. 'apache/spark:4.0.4-python3'"),
    ("registry.local:5000/spark", "has no tag"),
    ("apache/spark:-x", "has an invalid tag; use letters, digits, '_', '.' and '-'"),
    ("spark:" + "a" * 129, "has an invalid tag"),
    ("apache/spark:latest", "'latest' is not a pinned version"),
])
def test_unpinned_or_malformed_images_are_refused_with_the_fix(value: str, says: str) -> None:
    assert says in refusal(PinnedImage, value)


@pytest.mark.parametrize(("image", "version"), [
    ("apache/spark:4.0.4-python3", "4.0.4"), ("apache/spark:v4.0.4", "4.0.4"), ("spark:4.0.4", "4.0.4"),
    ("spark:4.0.45", "4.0.45"), ("spark:4.0.4.1", None), ("spark:V4.0.4", None), ("spark:python3", None),
    (f"spark@{DIGEST}", None),
])
def test_the_spark_version_an_image_tag_names(image: str, version: str | None) -> None:
    assert image_spark_version(image) == version


@pytest.mark.parametrize(("value", "ok"), [
    ("7d", True), ("30min", True), ("12h", True), ("500ms", True), ("7", False), ("1.5h", False), ("7 d", False),
])
def test_spark_durations_need_a_whole_number_and_a_unit(value: str, ok: bool) -> None:
    if ok:
        assert accepts(SparkDuration, value)
    else:
        assert "not a Spark duration; write a whole number with a unit, e.g. '7d'" in refusal(SparkDuration, value)


def test_relative_paths_are_refused_with_the_reason() -> None:
    assert accepts(AbsolutePath, "/srv/data")
    message = refusal(AbsolutePath, "srv/data")
    assert "must be an absolute path" in message and "'/srv/data'" in message


# DNS-1035 (k8s.io/apimachinery validation): a letter first, a letter or digit last.
@pytest.mark.parametrize(("name", "ok"), [
    ("sales-etl", True), ("a", True), ("a1", True), ("1a", False), ("a-", False), ("Sales", False), ("a_b", False),
])
def test_application_names(name: str, ok: bool) -> None:
    if ok:
        assert check_app_name(name, 40) == name
    else:
        with pytest.raises(ValueError, match=r"at most 40 lowercase letters.*starting with a letter.*'sales-etl'"):
            check_app_name(name, 40)


def test_application_names_have_a_length_limit() -> None:
    assert check_app_name("a" * 40, 40)
    with pytest.raises(ValueError, match="at most 40"):
        check_app_name("a" * 41, 40)


# JavaUtils.byteStringAs (Spark 4.0.4): every suffix Spark reads, in bytes, case and surrounding spaces ignored.
@pytest.mark.parametrize(("value", "size"), [
    ("7b", 7), ("3k", 3 * 1024), ("3kb", 3 * 1024), ("5m", 5 * 1024**2), ("5MB", 5 * 1024**2), ("2g", 2 * 1024**3),
    ("2gb", 2 * 1024**3), (" 2G ", 2 * 1024**3), ("1t", 1024**4), ("1tb", 1024**4), ("1p", 1024**5),
    ("1pb", 1024**5), ("0m", 0),
])
def test_spark_sizes_in_bytes(value: str, size: int) -> None:
    assert spark_size_bytes(value) == size


@pytest.mark.parametrize("value", ["2", "2x", "2 g", "1.5g", "g", "", "-1g", "2gib"])
def test_sizes_spark_refuses(value: str) -> None:
    with pytest.raises(ValueError, match=r"^not a Spark memory size; write a whole number with a unit, e\.g\. '2g' "
                                         r"or '512m' \(k, m, g, t; '2gb' and '2G' work too; fractions and spaces do "
                                         r"not\)$"):
        spark_size_bytes(value)


# apimachinery resource.Quantity: binary and decimal SI suffixes, decimal exponents, a sign.
@pytest.mark.parametrize(("value", "number"), [
    ("5", "5"), ("1Ki", "1024"), ("1Mi", str(2**20)), ("1.5Gi", str(3 * 2**29)), ("1Ti", str(2**40)),
    ("1Pi", str(2**50)), ("1Ei", str(2**60)), ("500m", "0.5"), ("2k", "2000"), ("2M", "2000000"),
    ("2G", "2000000000"), ("2T", str(2 * 10**12)), ("2P", str(2 * 10**15)), ("2E", str(2 * 10**18)),
    ("3e3", "3000"), ("3E-2", "0.03"), ("1e+1", "10"), ("-2Gi", str(-2 * 2**30)), ("+2", "2"), (".5", "0.5"),
    ("5.", "5"),
])
def test_kubernetes_quantities(value: str, number: str) -> None:
    assert quantity_value(value) == Decimal(number)


@pytest.mark.parametrize("value", ["5 Gi", "5GB", "Gi", "", "5gi", "1.2.3"])
def test_what_is_not_a_quantity(value: str) -> None:
    with pytest.raises(ValueError, match=r"^not a Kubernetes quantity; write a number with a unit, e\.g\. '5Gi', "
                                         r"'512Mi' or '500m'$"):
        quantity_value(value)


def test_sizes_must_be_more_than_zero() -> None:
    assert accepts(Quantity, "1m")
    assert "must be more than zero; write a size such as '5Gi'" in refusal(Quantity, "0Gi")
    assert "must be more than zero" in refusal(Quantity, "-1Gi")


# DNS-1123 labels (namespaces): at most 63 characters, lowercase alphanumerics and '-', alphanumeric at both ends.
@pytest.mark.parametrize(("name", "ok"), [
    ("a" * 63, True), ("a" * 64, False), ("1ab", True), ("a-b", True), ("-ab", False), ("ab-", False), ("a.b", False),
    ("A", False), ("", False),
])
def test_namespace_names(name: str, ok: bool) -> None:
    if ok:
        assert accepts(DnsLabel, name)
    else:
        assert ("not a valid Kubernetes name; use at most 63 lowercase letters, digits and '-', starting and ending "
                "with a letter or digit (e.g. 'spark-jobs')") in refusal(DnsLabel, name)


# Label keys and values (apimachinery IsQualifiedName, IsValidLabelValue).
@pytest.mark.parametrize("key", [
    "release", "example.com/team", "a" * 63, f"{'p' * 253}/x", "A_b.c-D", "a.b-c.d/n", "x" * 63 + "/y",
])
def test_label_keys_kubernetes_accepts(key: str) -> None:
    assert accepts(Labels, {key: "v"})


@pytest.mark.parametrize("key", [
    "", "/x", "a" * 64, f"{'p' * 254}/x", "Example.com/x", "ex_ample.com/x", "example.com/", "-a", "a-", "a b",
    "a/b/c",
])
def test_label_keys_kubernetes_refuses(key: str) -> None:
    assert (f"{key!r} is not a Kubernetes label key; write e.g. 'release' or 'example.com/team' (at most 63 letters, "
            "digits, '-', '_', '.' after an optional prefix)") in refusal(Labels, {key: "v"})


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("a" * 63, True), ("A.b_c-1", True), ("a" * 64, False), ("-a", False), ("a.", False), ("a b", False),
])
def test_label_values(value: str, ok: bool) -> None:
    if ok:
        assert accepts(Labels, {"k": value})
    else:
        assert (f"the value {value!r} of 'k' is not a Kubernetes label value; use at most 63 letters, digits, '-', "
                "'_' and '.', starting and ending with a letter or digit") in refusal(Labels, {"k": value})


def test_annotations_check_keys_only() -> None:
    assert accepts(Annotations, {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/a b", "k": "x" * 300})
    assert "'role arn' is not a Kubernetes label key" in refusal(Annotations, {"role arn": "x"})


# robfig/cron v3.0.1 ParseStandard, as operator v2.5.2 calls it.
@pytest.mark.parametrize(("cron", "says"), [
    ("CRON_TZ=UTC 0 3 * * *", "carries its own time zone; remove the TZ= prefix and set schedule.timeZone instead"),
    ("TZ=UTC 0 3 * * *", "carries its own time zone"),
    ("@every -1h", "is not a descriptor the operator knows"),
    ("@every", "is not a descriptor the operator knows"),
    ("@every1h", "is not a descriptor the operator knows"),
    ("0 3 * *", "has 4 fields, not 5"),
    ("0 3 * * * *", "has 6 fields, not 5"),
    ("*/5/2 * * * *", "minute '*/5/2' has more than one '/'"),
    ("0 1-2-3 * * *", "hour '1-2-3' has more than one '-'"),
    ("0 3 0 * *", "day of month '0' is outside 1-31"),
    ("0 3 32 * *", "day of month '32' is outside 1-31"),
    ("0 3 * 13 *", "month '13' is outside 1-12"),
    ("0 3 * 0 *", "month '0' is outside 1-12"),
    ("60 3 * * *", "minute '60' is outside 0-59"),
    ("0 3 * * 1/0", "day of week '1/0' has a zero step"),
    ("0 3 * * 5-1", "day of week '5-1' starts after it ends"),
    ("0 3 * * x", "'x' is not a number"),
    ("0 3 * * -1", "'' is not a number"),
    ("0 3 * * +-1", "'+' is not a number"),
    ("0 3 * jan-x *", "'x' is not a number"),
])
def test_cron_refusals_name_the_field_and_the_fix(cron: str, says: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_cron(cron)
    message = str(raised.value)
    assert says in message
    assert message.endswith("write 5 fields such as '0 3 * * *' (03:00 daily), a descriptor such as '@daily', or "
                            "'@every 1h'") or "TZ=" in cron


@pytest.mark.parametrize("cron", [
    "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@every 1h30m", "@every 0",
    "@every 1.5h", "@every 500ms", "30/15 * * * *", "0 3 * * SUN", "0 3 * JAN,DEC *", "0 3 ? * *",
    "0 3 1,,15 * *", "0 0 31 12 6", "+5 3 * * *", " 0 3 * * * ",
])
def test_cron_the_operator_accepts(cron: str) -> None:
    assert check_cron(cron) == cron


def test_negative_cron_numbers_are_refused() -> None:
    """strconv.Atoi reads "-1", and robfig's getRange then refuses it as negative; a '-' in a field is read as a
    range first, so only a step can carry one."""
    with pytest.raises(ValueError, match="'-1' is negative"):
        check_cron("*/-1 * * * *")


@pytest.mark.parametrize(("zone", "ok"), [
    ("UTC", True), ("Local", True), ("Europe/Berlin", True), ("America/Argentina/Buenos_Aires", True),
    ("Mars/Olympus", False), ("../etc/passwd", False), ("", False),
])
def test_time_zones(zone: str, ok: bool) -> None:
    if ok:
        assert check_time_zone(zone) == zone
    else:
        with pytest.raises(ValueError, match=r"^unknown time zone; use an IANA name such as 'UTC' or 'Europe/Berlin'$"):
            check_time_zone(zone)


@pytest.mark.parametrize("value", ["10us", "10ms", "10s", "10m", "10min", "10h", "10d", " 7D "])
def test_every_spark_duration_unit(value: str) -> None:
    assert accepts(SparkDuration, value)


def test_int32_bounds_are_the_api_servers() -> None:
    assert accepts(PositiveInt32, 2**31 - 1) and accepts(Int32, 0)
    assert "less than or equal to 2147483647" in refusal(PositiveInt32, 2**31)
    assert "greater than or equal to 1" in refusal(PositiveInt32, 0)
    assert "greater than or equal to 0" in refusal(Int32, -1)


def test_a_chart_file_that_is_not_yaml_or_empty(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("name: [unclosed\n")
    assert local_chart_problem(tmp_path, "spark-operator", "2.5.2", "https://x") == (
        f"{tmp_path / 'Chart.yaml'} is not valid YAML (ParserError)")
    (tmp_path / "Chart.yaml").write_text("")
    assert local_chart_problem(tmp_path, "spark-operator", "2.5.2", "https://x") == (
        f"{tmp_path / 'Chart.yaml'} holds chart None None; the stack needs spark-operator 2.5.2 (the chartVersion)")
    (tmp_path / "Chart.yaml").write_text("name: spark-operator\nversion: 2.5.2\n")
    assert local_chart_problem(tmp_path, "spark-operator", "2.5.2", "https://x") is None


def test_a_packaged_chart_is_named_after_its_version(tmp_path: Path) -> None:
    good = tmp_path / "spark-operator-2.5.2.tgz"
    good.write_bytes(b"x")
    assert local_chart_problem(good, "spark-operator", "2.5.2", "https://x") is None
    bad = tmp_path / "spark-operator-2.5.20.tgz"
    bad.write_bytes(b"x")
    assert local_chart_problem(bad, "spark-operator", "2.5.2", "https://charts.example") == (
        "a packaged chart must be spark-operator-2.5.2.tgz (the chartVersion); `helm pull spark-operator --repo "
        "https://charts.example --version 2.5.2` writes it")
    assert local_chart_problem(tmp_path / "none", "spark-operator", "2.5.2", "https://x") == (
        f"{tmp_path / 'none'} is neither a chart folder (with a Chart.yaml) nor a packaged .tgz chart; point it at the "
        "spark-operator chart's folder")


@pytest.mark.parametrize(("kind", "value", "message"), [
    (AbsolutePath, "srv", "must be an absolute path (pulumi may run from another directory); e.g. '/srv/data'"),
    (CpuQuantity, "0", "must be more than zero; write millicores or cores, e.g. '500m' or '1.5'"),
    (CpuQuantity, "0.0005", "finer than a millicore; Kubernetes rounds it, so write e.g. '500m'"),
    (PinnedImage, "spark@sha256:beef", "has an invalid digest; write '@sha256:' and 64 hex digits, or drop the digest"),
    (PinnedImage, "spark:-x", "has an invalid tag; use letters, digits, '_', '.' and '-'"),
    (PinnedImage, "spark", "has no tag; pin an exact version, e.g. 'spark:4.0.4-python3'"),
    (PinnedImage, "a b", "not an image reference; write e.g. 'apache/spark:4.0.4-python3'"),
    (PinnedImage, "spark:latest", "'latest' is not a pinned version; write an exact tag"),
    (Quantity, "0", "must be more than zero; write a size such as '5Gi'"),
    (SparkDuration, "7", "not a Spark duration; write a whole number with a unit, e.g. '7d', '12h' or '30min'"),
    (ExecutorMemory, "449m", "below Spark's minimum of 450m for this JVM; write at least '450m'"),
])
def test_value_refusals_in_full(kind: Any, value: Any, message: str) -> None:
    assert reason(kind, value) == message


def test_an_application_name_refusal_in_full() -> None:
    with pytest.raises(ValueError) as raised:
        check_app_name("Sales", 56)
    assert str(raised.value) == ("not a valid application name; use at most 56 lowercase letters, digits and '-', "
                                 "starting with a letter and ending with a letter or digit (e.g. 'sales-etl')")


def test_a_cron_with_its_own_zone_in_full() -> None:
    with pytest.raises(ValueError) as raised:
        check_cron("TZ=UTC @daily")
    assert str(raised.value) == "carries its own time zone; remove the TZ= prefix and set schedule.timeZone instead"


def test_a_stepped_range_is_still_checked_for_its_order() -> None:
    with pytest.raises(ValueError, match=r"^hour '5-3/2' starts after it ends; "):
        check_cron("0 5-3/2 * * *")


def test_a_missing_tgz_is_no_chart(tmp_path: Path) -> None:
    assert local_chart_problem(tmp_path / "spark-operator-2.5.2.tgz", "spark-operator", "2.5.2", "https://x") == (
        f"{tmp_path / 'spark-operator-2.5.2.tgz'} is neither a chart folder (with a Chart.yaml) nor a packaged .tgz "
        "chart; point it at the spark-operator chart's folder")
    (tmp_path / "Chart.yaml").write_text("name: prometheus\nversion: 1.0.0\n")
    assert local_chart_problem(tmp_path, "spark-operator", "2.5.2", "https://x") == (
        f"{tmp_path / 'Chart.yaml'} holds chart prometheus 1.0.0; the stack needs spark-operator 2.5.2 (the "
        "chartVersion)")
