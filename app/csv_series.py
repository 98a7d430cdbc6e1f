"""Parse a CSV series for `POST /v1/wave-forecasts` and `stylewave forecast --series FILE.csv`.

The file has a header row, then one row per step, oldest first, one column per channel. A column whose values
are all ISO 8601 dates or datetimes (``2024-01-31``, ``2024-01-31T12:30:00``, ``2024-01``) is the timestamp
column: its step is inferred (a fixed duration, or a whole number of calendar months) and the forecast's steps
get the timestamps that follow. Rows are counted as lines of the file, the header being row 1.

Only the standard library: the API process imports this, and it must stay free of numpy/pandas/torch.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MAX_ROWS = 20_000  # app.schemas.MAX_HISTORY; checked again by the request schema


class CSVError(ValueError):
    """A bad CSV: the message names the row (file line, header = 1) and the column when there is one."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None) -> None:
        where = ", ".join(p for p in (f"row {row}" if row else "", f"column {column!r}" if column else "") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.row, self.column = row, column


@dataclass(frozen=True)
class Step:
    """The spacing of the timestamps: ``months`` calendar months, or a fixed ``delta``."""

    months: int = 0
    delta: timedelta = timedelta(0)
    month_end: bool = False  # every timestamp is the last day of its month: keep it so

    @property
    def label(self) -> str:
        if self.months:
            return {1: "monthly", 3: "quarterly", 12: "yearly"}.get(self.months, f"{self.months} months")
        return {86400: "daily", 604800: "weekly", 3600: "hourly"}.get(int(self.delta.total_seconds()), str(self.delta))


@dataclass
class ParsedCSV:
    """Rows of channel values (oldest first), the channel names, and the timestamps when the file has them."""

    series: list[list[float]]
    channels: list[str]
    timestamps: list[datetime] | None = None
    step: Step | None = None
    time_format: str = "datetime"  # "month" (YYYY-MM), "date" or "datetime": how to write the next ones
    time_column: str | None = None

    def next_timestamps(self, horizon: int) -> list[str] | None:
        """ISO 8601 strings of the ``horizon`` steps after the last row, in the file's own style."""
        if not self.timestamps or self.step is None:
            return None
        last = self.timestamps[-1]
        return [_format(_advance(last, self.step, i), self.time_format) for i in range(1, horizon + 1)]


def _parse_time(text: str) -> tuple[datetime, str] | None:
    """An ISO 8601 date or datetime (with its style), or None."""
    s = text.strip()
    if len(s) == 7 and s[4] == "-" and s[:4].isdigit() and s[5:].isdigit():  # YYYY-MM, reduced precision
        s += "-01"
        style = "month"
    else:
        style = "date" if len(s) == 10 else "datetime"
    if len(s) < 10 or s[4] != "-":  # plain numbers (years, counts) are values, not dates
        return None
    try:
        return datetime.fromisoformat(s), style
    except ValueError:
        return None


def _format(t: datetime, style: str) -> str:
    if style == "month":
        return t.strftime("%Y-%m")
    if style == "date":
        return t.date().isoformat()
    return t.isoformat()


def _add_months(t: datetime, months: int, month_end: bool) -> datetime:
    index = t.year * 12 + t.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return t.replace(year=year, month=month, day=last_day if month_end else min(t.day, last_day))


def _advance(t: datetime, step: Step, count: int) -> datetime:
    return _add_months(t, step.months * count, step.month_end) if step.months else t + step.delta * count


def _is_month_end(t: datetime) -> bool:
    return (t + timedelta(days=1)).day == 1


def infer_step(times: list[datetime], column: str, first_row: int = 2) -> Step:
    """The one step between consecutive timestamps; a CSVError names the first row that breaks it."""
    if len(times) < 2:
        raise CSVError("at least two timestamps are needed to infer their frequency", first_row, column)
    a, b = times[0], times[1]
    months = (b.year - a.year) * 12 + b.month - a.month
    month_end = all(_is_month_end(t) for t in times)
    calendar = months > 0 and (a.day == b.day or month_end) and a.time() == b.time()
    step = Step(months=months, month_end=month_end) if calendar else Step(delta=b - a)
    if not calendar and step.delta <= timedelta(0):
        raise CSVError("timestamps must increase", first_row + 1, column)
    for i in range(1, len(times)):
        expected = _advance(times[i - 1], step, 1)
        try:
            same = times[i] == expected
        except TypeError:  # naive and zone-aware timestamps mixed
            same = False
        if not same:
            raise CSVError(
                f"irregular timestamps: expected {_format(expected, 'datetime')} ({step.label} step), "
                f"got {_format(times[i], 'datetime')}",
                first_row + i,
                column,
            )
    return step


def _rows(text: str) -> list[list[str]]:
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample.splitlines()[0], delimiters=",;\t")
    except (csv.Error, IndexError):
        dialect = csv.excel
    return list(csv.reader(io.StringIO(text), dialect))


def parse_csv(data: bytes | str, max_rows: int = MAX_ROWS) -> ParsedCSV:
    """Parse a CSV series; every problem is a CSVError naming its row and column."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise CSVError(f"the CSV is not UTF-8 text (byte {exc.start})") from None
    rows = _rows(text)
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CSVError("the CSV is empty: a header row and one row per step are needed", 1)
    header = [h.strip() or f"column {i + 1}" for i, h in enumerate(rows[0])]
    body = rows[1:]
    if not body:
        raise CSVError("the CSV has a header but no data rows", 2)
    if len(body) > max_rows:
        raise CSVError(f"{len(body)} data rows, the maximum is {max_rows}", max_rows + 2)
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise CSVError(f"{len(row)} fields, the header has {len(header)} (ragged row)", i + 2)
    columns = list(zip(*body, strict=True))
    time_col = _time_column(columns)
    parsed = ParsedCSV(series=[], channels=[h for j, h in enumerate(header) if j != time_col])
    if not parsed.channels:
        raise CSVError("no value column: the CSV needs at least one column of numbers", 1)
    values = [_numbers(col, header[j]) for j, col in enumerate(columns) if j != time_col]
    parsed.series = [list(r) for r in zip(*values, strict=True)]
    if time_col is not None:
        stamped = [_parse_time(v) for v in columns[time_col]]
        parsed.timestamps = [s[0] for s in stamped if s]
        parsed.time_format = stamped[0][1] if stamped[0] else "datetime"
        parsed.time_column = header[time_col]
        parsed.step = infer_step(parsed.timestamps, header[time_col])
    return parsed


def _time_column(columns: list[tuple[str, ...]]) -> int | None:
    """The first column whose every value is an ISO 8601 date or datetime."""
    for j, col in enumerate(columns):
        if all(_parse_time(v) is not None for v in col):
            return j
    return None


def _numbers(col: tuple[str, ...], name: str) -> list[float]:
    out = []
    for i, cell in enumerate(col):
        s = cell.strip()
        try:
            v = float(s)
        except ValueError:
            what = "an empty value" if not s else f"text {s[:40]!r}"
            raise CSVError(f"{what} in a number column", i + 2, name) from None
        if not math.isfinite(v):
            raise CSVError(f"{s!r} is not a finite number", i + 2, name)
        out.append(v)
    return out
