"""Figures as tables of strings: what a page shows, the CLI prints and a CSV file holds, alike."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    key: str  # the CSV file's name and the page's anchor: "outcomes", "alert_burden", …
    columns: tuple[str, ...]
    rows: list[dict[str, str]]


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table cell; empty when there is none (no patients, nothing to divide by)."""
    return "" if value is None else f"{value:.{digits}f}"


def csv_text(table: Table) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=table.columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(table.rows)
    return out.getvalue()
