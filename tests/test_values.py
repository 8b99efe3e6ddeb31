"""The value rules of infra/values.py at their edges: each accepts what its consumer accepts, refuses what it
refuses, and says how to fix it. Expected values come from the consumers' own rules (cited), not from our code.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from infra.values import (
    AbsolutePath,
    CpuQuantity,
    DriverMemory,
    ExecutorMemory,
    PinnedImage,
    SparkDuration,
    check_app_name,
    cpu_millis,
    image_spark_version,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4


def refusal(kind: Any, value: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(kind).validate_python(value)
    return str(raised.value)


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
