"""Read models of the store's history rows."""
from datetime import date, datetime

from kpi_core.domain.records import (
    ReviewEntry,
    TargetEntry,
    TargetVersionSummary,
    last_review_date,
    target_versions,
)

APR, MAY = date(2026, 4, 1), date(2026, 5, 1)
FIRST, SECOND = datetime(2026, 3, 1, 9, 0), datetime(2026, 5, 2, 10, 30)


def test_target_versions_total_each_version_newest_first():
    history = [TargetEntry(1, APR, 40.0, "first draft", FIRST, SECOND), TargetEntry(1, MAY, 40.0, "first draft", FIRST, SECOND),
               TargetEntry(2, MAY, 45.0, "seasonal", SECOND, None), TargetEntry(2, APR, 35.0, "seasonal", SECOND, None)]
    assert target_versions(history) == [TargetVersionSummary(2, "seasonal", 80.0, SECOND),
                                        TargetVersionSummary(1, "first draft", 80.0, FIRST)]
    assert target_versions([]) == []


def test_last_review_date_is_the_latest_or_none():
    reviews = [ReviewEntry(date(2026, 7, 1), "m", "keep", ""), ReviewEntry(date(2026, 10, 1), "m", "change", "x")]
    assert last_review_date(reviews) == date(2026, 10, 1)
    assert last_review_date([]) is None
