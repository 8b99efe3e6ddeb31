"""How the pack reads an application's values (policy/spec_values.py), in process: sizes as Spark 4.0.4's
`JavaUtils.byteStringAs` reads them (whole numbers, b/k/m/g/t/p with an optional b, a bare number in MiB, longs
only), sizes and numbers as messages show them, and `AppView`'s reading of fields and of the effective
configuration (unknown, absent from a patch, unreadable)."""

from __future__ import annotations

from typing import Any

import pytest
from spark_submit_conf import UNKNOWN, Problem, Setting, Unknown
from spec_values import (
    AppView,
    SizeError,
    UndecidedError,
    UnreadableError,
    as_mapping,
    as_sequence,
    config_number,
    flag,
    fmt_mib,
    show,
    size_mib,
)

LONG_MAX = 9223372036854775807  # java.lang.Long.MAX_VALUE


@pytest.mark.parametrize(("text", "mib"), [
    ("2g", 2048), ("2G", 2048), ("2gb", 2048), ("2048", 2048), ("2048m", 2048), ("2048MB", 2048), (" 3g ", 3072),
    ("1t", 1048576), ("1tb", 1048576), ("1p", 1073741824), ("1pb", 1073741824),
    ("1024k", 1), ("2047k", 1), ("1023kb", 0), ("1048576b", 1), ("1048575b", 0), ("0", 0), ("007m", 7),
    # The largest count of pebibytes whose MiB still fit in a long: Long.MAX_VALUE // 2**30 = 8589934591.
    ("8589934591p", 8589934591 * 1073741824),
    (str(LONG_MAX) + "b", LONG_MAX // 1048576),  # 18+ digits that still fit in a long
    ("0" * 30 + "5m", 5),  # leading zeros are not digits of the value
])
def test_sizes_are_read_as_spark_reads_them(text: str, mib: int) -> None:
    assert size_mib(text) == mib


@pytest.mark.parametrize(("text", "error"), [
    ("8589934592p", "exceeds Long.MAX_VALUE in MiB"),
    (str(LONG_MAX + 1) + "b", "922337203685... does not fit in a long"),
    ("4Gi", 'invalid suffix "gi" (Spark reads b, k, m, g, t, p, optionally followed by b)'),
    ("2mib", 'invalid suffix "mib" (Spark reads b, k, m, g, t, p, optionally followed by b)'),
    ("1.5g", "fractional values are not supported (input was 1.5)"),
    ("0.25", "fractional values are not supported (input was 0.25)"),
    ("g", "not a byte string (a whole number with an optional b/k/m/g/t/p suffix)"),
    ("-1g", "not a byte string (a whole number with an optional b/k/m/g/t/p suffix)"),
    ("", "not a byte string (a whole number with an optional b/k/m/g/t/p suffix)"),
])
def test_sizes_spark_refuses_say_why(text: str, error: str) -> None:
    with pytest.raises(SizeError) as raised:
        size_mib(text)
    assert str(raised.value) == error


@pytest.mark.parametrize(("mib", "text"), [
    (1024, "1g"), (2048, "2g"), (2048.0, "2g"), (1536, "1536m"), (512, "512m"), (3072, "3g"), (1025, "1025m"),
    (0, "0m"), (409.6, "409.6m"), (615, "615m")])
def test_sizes_are_written_as_spark_writes_them(mib: float, text: str) -> None:
    assert fmt_mib(mib) == text


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (1.5, "1.5"), (0.1, "0.1"), (4, "4"), ("2g", "2g"), (None, "None"), (True, "True"),
    ("x" * 40, "x" * 40), ("x" * 41, "x" * 37 + "..."), (1e-7, "1e-07")])
def test_values_are_shown_as_written_and_cut_at_40_characters(value: Any, text: str) -> None:
    assert show(value) == text


@pytest.mark.parametrize(("value", "result"), [
    (True, True), (False, False), ("true", True), (" TRUE ", True), ("False", False), ("yes", None), ("1", None),
    (1, None), (None, None)])
def test_flags_are_spark_booleans(value: Any, result: bool | None) -> None:
    assert flag(value) is result


def test_shapes_that_are_not_maps_or_lists_read_as_empty() -> None:
    assert as_mapping({"a": 1}) == {"a": 1} and as_mapping(["a"]) == {} and as_mapping(None) == {}
    assert as_sequence(["a"]) == ["a"] and as_sequence(("a",)) == ("a",)
    assert as_sequence("ab") == () and as_sequence({"a": 1}) == () and as_sequence(None) == ()


@pytest.mark.parametrize(("config", "number"), [
    ({"k": 3}, 3.0), ({"k": 0.5}, 0.5), ({}, 2.0), ({"k": True}, 2.0), ({"k": "3"}, 2.0), ({"k": None}, 2.0)])
def test_config_numbers_fall_back_to_the_default(config: dict[str, Any], number: float) -> None:
    assert config_number(config, "k", 2.0) == number


# --- AppView ---------------------------------------------------------------------------------------------------


def test_fields_are_read_by_path_and_absent_is_none() -> None:
    view = AppView({"driver": {"memory": "2g", "labels": ["not", "a", "map"]}, "type": "Python"})
    assert view.value("driver.memory") == "2g"
    assert view.last_read == ("spec.driver.memory", "2g")
    assert view.value("type") == "Python"
    assert view.value("driver.cores") is None
    assert view.value("driver.labels.team") is None  # a list on the way: absent
    assert view.value("executor.memory") is None
    assert view.last_read[0] == "spec.executor.memory"


def test_an_unknown_field_or_parent_is_undecided_and_a_patchs_absent_field_silently_so() -> None:
    view = AppView({"driver": UNKNOWN, "image": UNKNOWN})
    for path, field in (("driver.memory", "spec.driver.memory"), ("image", "spec.image")):
        with pytest.raises(UndecidedError) as raised:
            view.value(path)
        assert (raised.value.field, raised.value.silent) == (field, False)
    patch = AppView({"image": "apache/spark:4.0.4"}, patch=True)
    assert patch.value("image") == "apache/spark:4.0.4"
    with pytest.raises(UndecidedError) as raised:
        patch.value("driver.memory")
    assert (raised.value.field, raised.value.silent) == ("spec.driver.memory", True)


def test_conf_reads_the_effective_setting_and_says_where_it_comes_from() -> None:
    view = AppView({"sparkConf": {"spark.driver.memory": "1g", "spark.x": "1"}, "driver": {"memory": "3g"}})
    assert view.conf("spark.driver.memory") == "3g"  # the typed field is written after sparkConf
    assert view.where("spark.driver.memory") == "driver.memory"
    assert view.last_read == ("spec.driver.memory", "3g")
    assert view.conf("spark.x") == "1" and view.where("spark.x") == "sparkConf.spark.x"
    assert view.conf("spark.unset") is None
    assert view.last_read == ("spark.unset", None)
    assert view.where("spark.unset") == "spark.unset"
    assert view.conf_flag("spark.unset", True) is True and view.conf_flag("spark.unset", False) is False
    assert view.conf_flag("spark.x", True) is True  # "1" is no Spark boolean: the default


def test_conf_of_an_unknown_or_unreadable_value_raises_for_that_rule_only() -> None:
    view = AppView({"sparkConf": UNKNOWN})
    with pytest.raises(UndecidedError) as raised:
        view.conf("spark.sql.adaptive.enabled")
    assert (raised.value.field, raised.value.silent) == ("spec.sparkConf", False)
    bad = AppView({"executor": {"memory": {"size": 4}}})
    with pytest.raises(UnreadableError) as unreadable:
        bad.conf("spark.executor.memory")
    assert (unreadable.value.field, unreadable.value.value, unreadable.value.reason) == (
        "spec.executor.memory", {"size": 4}, "is not a string or number")
    assert str(unreadable.value) == "spec.executor.memory: is not a string or number"
    assert bad.last_read == ("spec.executor.memory", Problem("executor.memory", {"size": 4}, "is not a string or "
                                                                                               "number"))


def test_a_patch_leaves_every_key_it_does_not_set_to_the_cluster() -> None:
    patch = AppView({"sparkConf": {"spark.x": "1"}}, patch=True)
    assert patch.settings[0].key == "*" and isinstance(patch.settings[0].value, Unknown)
    assert patch.settings[0].field == "the object on the cluster"
    assert patch.conf("spark.x") == "1"
    with pytest.raises(UndecidedError) as raised:
        patch.conf("spark.y")
    assert (raised.value.field, raised.value.silent) == ("spec.the object on the cluster", True)
    with pytest.raises(UndecidedError) as keys:
        patch.conf_keys("spark.")
    assert keys.value.silent is True
    assert AppView({}).settings[0].key != "*"


def test_conf_keys_lists_written_keys_once_and_an_unknown_map_makes_them_undecided() -> None:
    view = AppView({"sparkConf": {"spark.celeborn.a": "1", "spark.celeborn.b": "2", "spark.other": "3"},
                    "hadoopConf": UNKNOWN})
    view.settings.append(Setting("spark.celeborn.a", "4", "x"))
    assert view.conf_keys("spark.celeborn.") == ["spark.celeborn.a", "spark.celeborn.b"]
    assert view.conf_keys("spark.hadoop.") == []  # the unknown hadoopConf's pattern is not a key
    unknown = AppView({"sparkConf": UNKNOWN})
    with pytest.raises(UndecidedError) as raised:
        unknown.conf_keys("spark.celeborn.")
    assert (raised.value.field, raised.value.silent) == ("spec.sparkConf", False)


@pytest.mark.parametrize(("version", "parsed"), [
    ("4.0.4", (4, 0)), ("3.5.1", (3, 5)), ("v3.1", (3, 1)), (" 3.2.0", (3, 2)), ("4", (4, 0)), (3.1, (3, 1)),
    (None, (99, 0)), ("", (99, 0)), ("latest", (99, 0)), ("10.12", (10, 12))])
def test_spark_versions_are_read_as_major_and_minor(version: Any, parsed: tuple[int, int]) -> None:
    assert AppView({"sparkVersion": version}).spark_version() == parsed
