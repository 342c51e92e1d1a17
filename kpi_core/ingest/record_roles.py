"""A record list's columns and the plan's metrics, each given a role, so that a deal list maps itself.

Columns: the date (the mapping's), an ID (distinct count), an amount (numbers, summed) and a phase whose values
say which records are won. Plan metrics: a count (meetings), wins, an amount (revenue), a rate (win rate) and an
average (average deal), recognised from their keys, names and the template's aliases. From both: meetings = rows
(or distinct IDs), wins = rows in a won phase, revenue = won amounts, win rate = wins / meetings, average deal =
revenue / wins; a role the plan lacks but a formula needs becomes a helper metric (computed, never written).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kpi_core.ingest.names import MATCH_RATIO, score
from kpi_core.ingest.table import ColumnProfile, ParsedFile, distinct_labels, normalise_label

ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "count": ("商談数", "商談件数", "有効商談数", "案件数", "件数", "meetings", "opportunities", "deals",
              "leads", "リード数", "応募数", "applications", "問い合わせ数", "inquiries"),
    "wins": ("受注件数", "受注数", "成約件数", "成約数", "獲得件数", "wins", "won", "won deals"),
    "amount": ("売上", "売上高", "売上金額", "受注金額", "受注額", "金額", "revenue", "sales", "bookings", "amount"),
    "rate": ("受注率", "成約率", "勝率", "win rate", "close rate", "closing rate", "conversion rate"),
    "average": ("平均受注単価", "受注単価", "平均単価", "客単価", "平均受注額", "average deal", "average deal size",
                "avg deal", "deal size"),
}
ID_WORDS = ("id", "番号", "no", "no.", "コード", "code", "管理番号")
AMOUNT_HINTS = ("額", "amount", "price", "value", "価格", "円")
PHASE_HINTS = ("フェーズ", "ステージ", "ステータス", "状態", "結果", "stage", "phase", "status", "result")
WON_VALUES = {"受注", "受注済", "受注済み", "成約", "成約済", "成約済み", "契約", "契約済", "契約済み", "won",
              "closedwon", "closed-won", "win"}
MAX_PHASES = 30  # a column with more distinct values is not a phase
HELPERS = {"count": "deals", "wins": "won", "amount": "won_amount"}


def plan_roles(metric_aliases: dict[str, list[str]], keys: Iterable[str]) -> dict[str, str]:
    """{role: plan key}: each role's best-matching key (a key has at most one role)."""
    scored = []
    for key in keys:
        names = [key, *metric_aliases.get(key, [])]
        for role, words in ROLE_WORDS.items():
            similarity = max(score(name, words) for name in names)
            if similarity >= MATCH_RATIO:
                scored.append((similarity, role, key))
    roles: dict[str, str] = {}
    for _, role, key in sorted(scored, key=lambda item: -item[0]):
        if role not in roles and key not in roles.values():
            roles[role] = key
    return roles


def _words(name: str) -> str:
    return normalise_label(name)


def id_column(profiles: list[ColumnProfile]) -> str | None:
    """A column named like an ID whose sample cells are all different."""
    for p in profiles:
        name = _words(p.name)
        named = name in ID_WORDS or name.endswith(("id", "番号", "コード", "code")) or name.startswith("id")
        if named and p.filled and p.distinct == p.filled and not p.monthly:
            return p.name
    return None


def amount_column(profiles: list[ColumnProfile], aliases: list[str]) -> str | None:
    """The numeric column named like an amount (or like the plan's amount metric)."""
    best, chosen = 0.0, None
    for p in profiles:
        if not p.numeric or p.monthly:
            continue
        similarity = score(p.name, [*ROLE_WORDS["amount"], *aliases])
        if similarity < MATCH_RATIO and any(hint in _words(p.name) for hint in AMOUNT_HINTS):
            similarity = MATCH_RATIO
        if similarity >= MATCH_RATIO and similarity > best:
            best, chosen = similarity, p.name
    return chosen


def phase_column(parsed: ParsedFile, profiles: list[ColumnProfile]) -> tuple[str, list[str]] | None:
    """(column, its won values): a text column of few values, some of which say 'won'; named like a phase first."""
    candidates = [p for p in profiles if p.filled and not p.numeric and not p.monthly and p.distinct <= MAX_PHASES]
    candidates.sort(key=lambda p: not any(hint in _words(p.name) for hint in PHASE_HINTS))
    for p in candidates:
        values = distinct_labels(parsed, p.name, limit=MAX_PHASES + 1)
        if len(values) > MAX_PHASES:
            continue
        won = [v for v in values if _words(v) in WON_VALUES or _words(v).startswith("closedwon")]
        if won:
            return p.name, won
    return None


def default_column(parsed: ParsedFile, source: str) -> str | None:
    """The column a record metric of `source` most likely reads: the ID for a distinct count, the amount (else
    the first numeric column that is not an ID or a date) for a sum or a mean."""
    identifier = id_column(parsed.profiles)
    if source == "count_distinct":
        return identifier
    others = [p for p in parsed.profiles if p.name != identifier and not p.monthly]
    return amount_column(others, []) or next((p.name for p in others if p.numeric), None)


def suggest_record_metrics(parsed: ParsedFile, date_column: str | None, metric_aliases: dict[str, list[str]],
                           keys: list[str]) -> dict[str, dict[str, Any]]:
    """The metrics of a record list's mapping (see the module docstring); {} without a date column."""
    if not date_column:
        return {}
    roles = plan_roles(metric_aliases, keys)
    profiles = [p for p in parsed.profiles if p.name != date_column]
    identifier = id_column(profiles)
    amount = amount_column([p for p in profiles if p.name != identifier],
                           metric_aliases.get(roles.get("amount", ""), []))
    phase = phase_column(parsed, [p for p in profiles if p.name not in (identifier, amount)])
    won_filter = [{"column": phase[0], "op": "in", "value": phase[1]}] if phase else []
    counted: dict[str, Any] = {"source": "count_distinct", "column": identifier} if identifier else {"source": "count"}

    needs_wins = phase is not None and bool({"wins", "rate", "average"} & set(roles))
    needs_amount = amount is not None and bool({"amount", "average"} & set(roles))
    needs_count = bool({"count", "rate"} & set(roles))
    name = {role: roles.get(role) or HELPERS[role] for role in HELPERS}
    metrics: dict[str, dict[str, Any]] = {}
    if needs_count:
        metrics[name["count"]] = dict(counted)
    if needs_wins:
        metrics[name["wins"]] = {**counted, "filters": won_filter}
    if needs_amount:
        metrics[name["amount"]] = {"source": "sum", "column": amount, "filters": won_filter}
    if "rate" in roles and needs_wins:
        metrics[roles["rate"]] = {"source": "formula", "formula": f"{name['wins']} / {name['count']}"}
    if "average" in roles and needs_wins and needs_amount:
        metrics[roles["average"]] = {"source": "formula", "formula": f"{name['amount']} / {name['wins']}"}
    return metrics
