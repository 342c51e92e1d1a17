"""Matching names from a file (headers, metric labels) to the plan's metrics and their aliases.

Names are compared normalised (NFKC, case, spaces, framing brackets), with and without a bracketed unit; a close
spelling (difflib ratio) or one name inside the other (商談数 / 有効商談数) is a similar match, scored below 1.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from kpi_core.ingest.table import normalise_label

_BRACKETED = re.compile(r"[(（\[【<＜「『].*?[)）\]】>＞」』]")
MATCH_RATIO = 0.82
# One name inside the other, a few characters apart (商談数 / 有効商談数, 売上 / 年間売上): similar, not equal. Such a
# match is marked `"similar": true` in the suggestion, for the user to confirm.
CONTAINED_SCORE = 0.9
CONTAINED_EXTRA = 3


def _forms(text: str) -> set[str]:
    """Comparable forms of a header or alias: as is, and without bracketed units (商談数(件) -> 商談数)."""
    whole = normalise_label(text)
    bare = normalise_label(_BRACKETED.sub("", str(text)))
    return {form for form in (whole, bare) if form}


def score(header: str, aliases: Iterable[str]) -> float:
    """1.0 for an exact (normalised) match, else the best similarity ratio of the comparable forms."""
    header_forms = _forms(header)
    best = 0.0
    for alias in aliases:
        alias_forms = _forms(alias)
        if header_forms & alias_forms:
            return 1.0
        for h in header_forms:
            for a in alias_forms:
                if _contained(h, a):
                    best = max(best, CONTAINED_SCORE)
                if min(len(h), len(a)) >= 3:
                    best = max(best, difflib.SequenceMatcher(None, h, a).ratio())
    return best


def _contained(first: str, second: str) -> bool:
    short, long = sorted((first, second), key=len)
    return len(short) >= 2 and short in long and 0 < len(long) - len(short) <= CONTAINED_EXTRA


def match_names(names: list[str], metric_aliases: dict[str, list[str]], plan_keys: Iterable[str],
                ) -> dict[str, str]:
    """{metric key: name} pairing each plan key with at most one name (best scores first)."""
    return {key: name for key, (name, _) in scored_matches(names, metric_aliases, plan_keys).items()}


def scored_matches(names: list[str], metric_aliases: dict[str, list[str]], plan_keys: Iterable[str],
                   ) -> dict[str, tuple[str, float]]:
    """{metric key: (name, score)}: match_names with how sure each pairing is (1.0 = the same name)."""
    keys = list(dict.fromkeys(plan_keys))
    candidates = []
    for key in keys:
        aliases = [key, *metric_aliases.get(key, [])]
        for name in names:
            similarity = score(name, aliases)
            if similarity >= MATCH_RATIO:
                candidates.append((similarity, -keys.index(key), -names.index(name), key, name))
    pairs: dict[str, tuple[str, float]] = {}
    used: set[str] = set()
    for similarity, _, _, key, name in sorted(candidates, reverse=True):
        if key not in pairs and name not in used:
            pairs[key] = (name, similarity)
            used.add(name)
    return pairs
