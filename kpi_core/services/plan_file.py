"""Use cases of the plan file: export a plan as YAML, import such a file as a new plan in ONE transaction."""
from __future__ import annotations

from dataclasses import replace

from kpi_core.adapters.plan_file import (
    ActualRow,
    PlanFileError,
    PlanSnapshot,
    TargetVersion,
    dump_plan_file,
    parse_plan_file,
)
from kpi_core.domain.model import Actual, Plan


def read_snapshot(store, plan: Plan, with_actuals: bool = True) -> PlanSnapshot:
    """Everything the plan file holds, read from the store."""
    kgi = store.get_kgi(plan.id)
    csfs = store.list_csfs(plan.id, include_retired=True)
    kpis = store.list_kpis(plan.id)
    position = {c.id: i for i, c in enumerate(csfs)}
    keys = ([kgi.key] if kgi else []) + [k.key for k in kpis]
    targets: dict[str, list[TargetVersion]] = {}
    wanted = set(keys)
    for row in store.target_versions(plan.id):
        if row.metric_key not in wanted:  # targets of a deleted KPI stay in the database, not in the file
            continue
        versions = targets.setdefault(row.metric_key, [])
        if not versions or versions[-1].version != row.version:
            versions.append(TargetVersion(int(row.version), row.reason, {}))
        versions[-1].values[row.month] = float(row.value)
    targets = {key: targets[key] for key in keys if key in targets}
    reviews = store.list_reviews(plan.id)
    snapshot = PlanSnapshot(
        plan=plan, kgi=kgi, csfs=csfs, kpis=kpis, kpi_csf=[position.get(k.csf_id) for k in kpis],
        targets=targets, checkins=sorted(store.list_checkins(plan.id), key=lambda c: (c.month, c.id or 0)),
        reviews=reviews[::-1],
        with_actuals=with_actuals)
    if with_actuals:
        snapshot.actuals = actual_rows(store, plan)
    return snapshot


def actual_rows(store, plan: Plan) -> list[ActualRow]:
    """Current actuals with where each came from (the import's file name when imported)."""
    files = {i.id: i.file_name for i in store.list_imports(plan.id)}
    return [ActualRow(a.metric_key, a.month, a.value, a.source, files.get(a.import_id, ""))
            for a in store.get_actuals(plan.id)]


def export_plan_file(store, plan: Plan, with_actuals: bool = True) -> str:
    return dump_plan_file(read_snapshot(store, plan, with_actuals))


def import_plan_file(store, text: str, name: str | None = None) -> Plan:
    """Create a new plan from a plan file. Everything is validated first (PlanFileError names field and line), then
    written in one transaction: a failure leaves the database as it was."""
    snapshot = parse_plan_file(text)
    plan = replace(snapshot.plan, name=(name or snapshot.plan.name).strip() or snapshot.plan.name)
    return store.atomic(lambda: _write(store, replace(snapshot, plan=plan)))


def _write(store, snapshot: PlanSnapshot) -> Plan:
    plan = store.create_plan(snapshot.plan)
    if snapshot.kgi is not None:
        store.save_kgi(replace(snapshot.kgi, plan_id=plan.id, id=None), None)
    csf_ids = [store.save_csf(replace(c, plan_id=plan.id, id=None), None).id for c in snapshot.csfs]
    for kpi, index in zip(snapshot.kpis, snapshot.kpi_csf, strict=True):
        store.save_kpi(replace(kpi, plan_id=plan.id, id=None, csf_id=None if index is None else csf_ids[index]),
                       None)
    for key, versions in snapshot.targets.items():
        for version in versions:
            store.set_monthly_targets(plan.id, key, version.values, version.reason)
    by_source: dict[str, list[Actual]] = {}
    for row in snapshot.actuals:  # the source (manual, import, seed...) is kept; the import records are not
        by_source.setdefault(row.source or "plan_file", []).append(Actual(row.metric_key, row.month, row.value))
    for source, actuals in by_source.items():
        store.save_actuals(plan.id, actuals, source=source)
    for checkin in snapshot.checkins:
        store.save_checkin(replace(checkin, plan_id=plan.id, id=None))
    for review in snapshot.reviews:
        store.add_review(plan.id, review.review_date, review.metric_key, review.decision, review.reason)
    return store.get_plan(plan.id)


__all__ = ["PlanFileError", "actual_rows", "export_plan_file", "import_plan_file", "read_snapshot"]
