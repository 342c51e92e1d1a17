"""Read models: the history rows the store hands out (target versions, actuals, imports, reviews, audit lines).

Frozen dataclasses, so that pages and reports name fields instead of SQL columns and nobody edits a read in place.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Any


@dataclass(frozen=True)
class TargetEntry:
    """One month of one version of a KPI's monthly targets."""
    version: int
    month: date
    value: float
    reason: str
    created_at: datetime
    superseded_at: datetime | None


@dataclass(frozen=True)
class TargetVersionSummary:
    """One saved version of a KPI's monthly targets: why, its total over the months, when."""
    version: int
    reason: str
    total: float
    saved: datetime


def target_versions(entries: list[TargetEntry]) -> list[TargetVersionSummary]:
    """The versions of a target history, newest first."""
    ordered = sorted(entries, key=lambda e: (e.version, e.month))
    versions = []
    for version, group in groupby(ordered, key=lambda e: e.version):
        rows = list(group)
        versions.append(TargetVersionSummary(version, rows[0].reason, sum(r.value for r in rows), rows[0].created_at))
    return versions[::-1]


@dataclass(frozen=True)
class CurrentActual:
    """The current value of one metric-month and where it came from."""
    metric_key: str
    month: date
    value: float
    source: str  # "manual" or "import"
    import_id: int | None


@dataclass(frozen=True)
class Conflict:
    """One item a stale save would have overwritten: what is stored now (theirs) against what this save would
    store (yours), and the version to save over theirs with. A cell names its metric and month; a review
    decision carries both decisions as (decision, reason)."""
    item: str
    theirs: Any
    yours: Any
    version: Any
    metric_key: str | None = None
    month: date | None = None
    theirs_decision: tuple[str, str] | None = None
    yours_decision: tuple[str, str] | None = None


@dataclass(frozen=True)
class TargetRow:
    """One month of one version of one metric's monthly targets, as the plan file exports them."""
    metric_key: str
    version: int
    reason: str
    month: date
    value: float


@dataclass(frozen=True)
class MappingProfile:
    """A saved import mapping, found again by the header signature of the export it was made for (or one read
    from a mapping file: `from_file`, not in the database)."""
    name: str
    mapping: dict[str, Any]
    id: int | None = None
    plan_id: int | None = None  # None: offered to every plan
    header_signature: str = ""
    updated_at: datetime | None = None
    from_file: bool = False


@dataclass(frozen=True)
class EarlierImport:
    """A committed import of the same file (same bytes) into the plan: which one, when, with which mapping
    (None when its stored mapping cannot be read)."""
    id: int
    created_at: datetime | None
    mapping: dict[str, Any] | None
    rows_rejected: int = 0


@dataclass(frozen=True)
class ActualEntry:
    """One recorded value of a metric-month, current or superseded, with the file that brought it."""
    month: date
    value: float
    source: str
    import_id: int | None
    file_name: str | None
    created_at: datetime
    superseded_at: datetime | None

    @property
    def current(self) -> bool:
        return self.superseded_at is None


@dataclass(frozen=True)
class ImportRecord:
    """One import of a file into a plan."""
    id: int
    file_name: str
    encoding: str
    shape: str
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    status: str  # "committed" or "reverted"
    created_at: datetime
    reverted_at: datetime | None

    @property
    def reverted(self) -> bool:
        return self.status == "reverted"


@dataclass(frozen=True)
class Rejection:
    """A row of an imported file that was refused: its line number, why, and its original text."""
    line_no: int | None
    reason: str
    raw: str


@dataclass(frozen=True)
class ReviewEntry:
    """One KPI's decision in a quarterly review of the KPI set."""
    review_date: date
    metric_key: str
    decision: str  # keep / change / drop
    reason: str


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log; `detail` is the JSON text of the change's values."""
    logged_at: datetime
    plan_id: int | None
    action: str
    detail: str


@dataclass(frozen=True)
class HealthSnapshot:
    """The health score of a plan as taken one day (monthly, or by hand), with its findings by severity and the
    light of each pitfall {pitfall number: light}."""
    id: int
    taken_at: datetime
    month: date
    score: float
    high: int
    medium: int
    low: int
    lights: dict[str, str]
    trigger: str  # "monthly" or "manual"


def last_review_date(reviews: list[ReviewEntry]) -> date | None:
    return max((r.review_date for r in reviews), default=None)
