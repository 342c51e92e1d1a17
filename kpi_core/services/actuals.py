"""Actuals use cases behind the import screen: what the plan measures, the names a file's columns may carry, and an
import committed together with the mapping profile that remembers it (one transaction: both or neither)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from kpi_core import ingest
from kpi_core.adapters.store import Store
from kpi_core.adapters.templates import TemplateError, aliases_for, find_template
from kpi_core.domain.goal import check_name
from kpi_core.domain.model import Plan
from kpi_core.errors import WorkbenchError


class ProfileNameError(WorkbenchError):
    """The name given to a mapping profile is empty or too long."""


def plan_metrics(store: Store, plan: Plan) -> dict[str, tuple[str, str]]:
    """{metric key: (name, unit)} of the KGI and the KPIs, in the plan's order."""
    kgi = store.get_kgi(plan.id)
    metrics = {kgi.key: (kgi.name or kgi.key, kgi.unit)} if kgi else {}
    metrics.update({k.key: (k.name or k.key, k.unit) for k in store.list_kpis(plan.id)})
    return metrics


def mapping_aliases(store: Store, plan: Plan) -> dict[str, list[str]]:
    """The plan's names and keys, plus the column aliases of the template it came from (when there is one)."""
    extra: dict[str, list[str]] = {}
    if plan.template:
        try:
            template = find_template(plan.template)
            extra = aliases_for(template) if template else {}
        except (TemplateError, OSError):  # a broken template file only loses the alias suggestions
            extra = {}
    return ingest.plan_aliases(store, plan, extra)


@dataclass(frozen=True)
class PreviewCounts:
    """The preview's headline figures: metric-months to write (of which replacing a value) and unchanged."""
    to_write: int
    replacing: int
    unchanged: int


def preview_counts(preview: ingest.ImportPreview) -> PreviewCounts:
    statuses = list(preview.values["status"]) if len(preview.values) else []
    unchanged = statuses.count("unchanged")
    return PreviewCounts(len(statuses) - unchanged, statuses.count("changed"), unchanged)


def check_profile_name(name: str) -> str:
    """The profile name, trimmed; ProfileNameError when it cannot be one."""
    for problem in check_name(name):
        raise ProfileNameError(problem.key, **problem.values)
    return name.strip()


def save_profile(store: Store, plan: Plan, parsed: ingest.ParsedFile, mapping: Mapping, name: str) -> int:
    """Remember the mapping under `name` for exports with this file's header; returns the profile id."""
    return ingest.save_mapping_profile(store, parsed, mapping, check_profile_name(name), plan)


def import_file(store: Store, plan: Plan, parsed: ingest.ParsedFile, mapping: Mapping,
                preview: ingest.ImportPreview, *, profile_name: str | None = None, accept_rejected: bool = False,
                replace: bool | None = None) -> ingest.ImportResult:
    """Commit the previewed import and, when `profile_name` is given (None: not), save the mapping under it: one
    transaction, so a profile that cannot be saved leaves the values unwritten too. A file already imported writes
    nothing."""
    name = None if profile_name is None else check_profile_name(profile_name)

    def work() -> ingest.ImportResult:
        result = ingest.commit_import(store, plan, parsed, mapping, preview, accept_rejected=accept_rejected,
                                      replace=replace)
        if name is not None and not result.already_imported:
            ingest.save_mapping_profile(store, parsed, mapping, name, plan)
        return result

    return store.atomic(work)


def latest_recorded_month(recorded: Mapping[date, float], months: list[date]) -> int:
    """Index of the latest of `months` with a recorded value (else 0): where a value history opens."""
    filled = [i for i, m in enumerate(months) if m in recorded]
    return filled[-1] if filled else 0
