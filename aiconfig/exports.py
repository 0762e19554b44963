"""CSV exports that a spreadsheet opens as data, never as formulas.

Model, task and provider names in the call log come from whoever configured or
called a task; a name like `=HYPERLINK("http://x.test","click")` would run as a
formula when the export is opened in Excel or LibreOffice. OWASP's rule: a text
cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
single quote. The page export and `ai_usage --csv` both write through here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number (e.g. a cost "-0.5" or "0.04") is data, not a formula.
_NUMBER_RE = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def csv_cell(value: Any) -> Any:
    """A value safe for a CSV cell: formula-like text gets a leading `'`; numbers stay."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_PREFIXES) and not _NUMBER_RE.match(value):
        return "'" + value
    return value


def csv_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Every cell of a record made safe with `csv_cell`."""
    return {key: csv_cell(value) for key, value in record.items()}


def write_csv(
    out: _Writable, *, columns: Sequence[str], records: Iterable[Mapping[str, Any]]
) -> None:
    """Write a header row and one safe row per record to `out` (a response, a stream)."""
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(csv_row(record))
