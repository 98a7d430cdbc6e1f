"""The CSV series parser: values, timestamps and their step, and a 422-ready error naming row and column."""

from __future__ import annotations

import pytest

from app.csv_series import CSVError, parse_csv


def test_channels_without_timestamps() -> None:
    parsed = parse_csv(b"a,b\n1,2\n3.5,-4e2\n")
    assert parsed.channels == ["a", "b"] and parsed.series == [[1.0, 2.0], [3.5, -400.0]]
    assert parsed.timestamps is None and parsed.next_timestamps(3) is None


def test_a_year_column_of_plain_numbers_is_a_channel_not_a_date() -> None:
    assert parse_csv("year,volume\n1871,1120\n1872,1160\n").channels == ["year", "volume"]


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("month,x\n1949-01,112\n1949-02,118\n", "monthly", ["1949-03", "1949-04"]),
        ("d,x\n2024-01-31,1\n2024-02-29,2\n2024-03-31,3\n", "monthly", ["2024-04-30", "2024-05-31"]),
        ("q,x\n2020-01-01,1\n2020-04-01,2\n", "quarterly", ["2020-07-01", "2020-10-01"]),
        ("y,x\n2019-01-01,1\n2020-01-01,2\n", "yearly", ["2021-01-01", "2022-01-01"]),
        ("w,x\n2024-01-01,1\n2024-01-08,2\n", "weekly", ["2024-01-15", "2024-01-22"]),
        (
            "t,x\n2024-01-01T23:00:00Z,1\n2024-01-01T23:30:00Z,2\n",
            "0:30:00",
            ["2024-01-02T00:00:00+00:00", "2024-01-02T00:30:00+00:00"],
        ),
    ],
)
def test_timestamps_step_and_the_next_ones(text: str, label: str, expected: list[str]) -> None:
    parsed = parse_csv(text)
    assert parsed.step is not None and parsed.step.label == label
    assert parsed.channels == ["x"] and parsed.next_timestamps(2) == expected


def test_semicolons_a_bom_and_trailing_blank_lines() -> None:
    parsed = parse_csv("\ufeffdate;x;y\n2024-01-01;1;2\n2024-01-02;3;4\n\n".encode())
    assert parsed.time_column == "date" and parsed.series == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("text", "row", "column", "words"),
    [
        ("", 1, None, "empty"),
        ("a,b\n", 2, None, "no data rows"),
        ("a,b\n1,2\n3\n", 3, None, "ragged"),
        ("a,b\n1,2\n3,4,5\n", 3, None, "ragged"),
        ("a,b\n1,2\n3,oops\n", 3, "b", "text 'oops'"),
        ("a,b\n1,\n", 2, "b", "empty value"),
        ("a\nnan\n", 2, "a", "finite"),
        ("d,x\n2024-01-01,1\n2024-01-02,2\n2024-01-04,3\n", 4, "d", "irregular"),
        ("d,x\n2024-01-02,1\n2024-01-01,2\n", 3, "d", "increase"),
        ("d,x\n2024-01-01,1\n", 2, "d", "two timestamps"),
    ],
)
def test_bad_csv_names_row_and_column(text: str, row: int, column: str | None, words: str) -> None:
    with pytest.raises(CSVError, match=words) as info:
        parse_csv(text)
    assert info.value.row == row and info.value.column == column
    assert f"row {row}" in str(info.value) and (column is None or repr(column) in str(info.value))


def test_too_many_rows() -> None:
    with pytest.raises(CSVError, match="maximum is 3"):
        parse_csv("x\n" + "1\n" * 4, max_rows=3)


def test_not_utf8() -> None:
    with pytest.raises(CSVError, match="UTF-8"):
        parse_csv(b"x\n\xff\xfe1\n")
