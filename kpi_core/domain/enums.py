"""The closed sets of values of the domain objects: a metric's direction, kind and aggregation, a CSF's role, a
plan's status and a metric's tracking status. Stored and shown by their string value."""
from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    UP = "up"  # higher is better (revenue, meetings)
    DOWN = "down"  # lower is better (churn, CPA)


class Kind(StrEnum):
    LEADING = "leading"
    LAGGING = "lagging"
    SUSTAINING = "sustaining"


class Aggregation(StrEnum):
    SUM = "sum"  # counts and money add up over months
    MEAN = "mean"
    LAST = "last"  # levels: headcount, ARR
    RATIO = "ratio"  # rates: ratio of sums, weighted by `ratio_weight`


class CSFRole(StrEnum):
    PRIMARY = "primary"
    FALLBACK = "fallback"
    RETIRED = "retired"


class PlanStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class Status(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NO_DATA = "no_data"
