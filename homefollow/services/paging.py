"""Paged lists (the triage queue, the patient overview): where a page starts and ends."""

from __future__ import annotations

from collections.abc import Sequence


class PageWindow:
    """Mixed into a page's dataclass, which holds `rows`, `page` (1-based) and `page_size`:
    the positions of its first and last rows, for 'Alerts 51–100 of 115'."""

    rows: Sequence
    page: int
    page_size: int

    @property
    def first(self) -> int:  # 1-based position of the page's first row (0 when empty)
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.page_size + len(self.rows)
