"""The whole plan as one readable YAML file, and back: KGI, CSFs (retired ones too), KPIs, every version of the
monthly targets with its reason, check-ins, reviews and, optionally, the actuals.

Writing: `dump_plan_file(snapshot)`. Reading: `parse_plan_file(text)` validates everything before anything is
written and names the field and the line of the first problem (`PlanFileError`). YAML is read with a SafeLoader
subclass that only adds line numbers and refuses aliases (no entity expansion).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from kpi_core.domain.drivers import FormulaError, parse_formula
from kpi_core.domain.enums import Aggregation, CSFRole, Direction, Kind, PlanStatus, Status
from kpi_core.domain.goal import MAX_TEXT_LENGTH
from kpi_core.domain.model import CSF, KGI, KPI, CheckIn, Plan
from kpi_core.domain.records import ReviewEntry
from kpi_core.domain.tracking import REVIEW_DECISIONS
from kpi_core.domain.value_rules import ValueKind, range_problem, shown, value_kind
from kpi_core.errors import WorkbenchError
from kpi_core.i18n import t

FORMAT_NAME = "kpi_workbench_plan"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 5_000_000
MAX_MONTHS = 120
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class PlanFileError(WorkbenchError):
    """A plan file that cannot be imported: catalogue key, the field's path and its line (0 when unknown)."""

    def __init__(self, key: str, where: str = "", line: int = 0, **values: Any):
        super().__init__(key, **values)
        self.where, self.line = where, line

    def message(self, lang: str) -> str:
        """'Line 12, kpis[2].annual_target: Expected a number, found a quarter.' in the user's language."""
        if self.where:
            prefix = t("report.plan_file.where", lang, line=self.line, field=self.where)
        else:
            prefix = t("report.plan_file.where_line", lang, line=self.line) if self.line else ""
        return prefix + t(self.key, lang, **self.values)


class PlanFileRangeError(PlanFileError):
    """Values outside their metric's range (value_rules): every one named with its field and line."""

    SHOWN = 20

    def __init__(self, problems: list[tuple[str, int, str, dict[str, Any]]]):
        where, line, key, values = problems[0]
        super().__init__(key, where, line, **values)
        self.problems = problems

    def message(self, lang: str) -> str:
        lines = [PlanFileError(key, where, line, **values).message(lang)
                 for where, line, key, values in self.problems[:self.SHOWN]]
        if len(self.problems) > self.SHOWN:
            lines.append(t("report.plan_file.more_problems", lang, count=len(self.problems) - self.SHOWN))
        return "  \n".join(lines)  # a line each, in a terminal and in Markdown (two spaces: a line break)


@dataclass
class _Value:
    """A metric's value as read, held to its range rule once every metric's unit is known."""

    metric: str
    value: float
    field: str  # what the value is, as the reason names it: "meetings, 2026-04"
    where: str
    line: int


def _check_ranges(values: list[_Value], kinds: dict[str, ValueKind]) -> None:
    problems = []
    for item in values:
        kind = kinds.get(item.metric, ValueKind.SIGNED)
        problem = range_problem(item.value, kind)
        if problem:
            problems.append((item.where, item.line, problem, {"field": item.field, "value": shown(item.value, kind)}))
    if problems:
        raise PlanFileRangeError(problems)


@dataclass
class TargetVersion:
    version: int
    reason: str
    values: dict[date, float]


@dataclass
class ActualRow:
    metric_key: str
    month: date
    value: float
    source: str = ""
    import_file: str = ""


@dataclass
class PlanSnapshot:
    """Everything a plan file holds. CSFs and KPIs in display order; KPIs point to CSFs by list index."""

    plan: Plan
    kgi: KGI | None
    csfs: list[CSF]
    kpis: list[KPI]
    kpi_csf: list[int | None]  # index into csfs per KPI
    targets: dict[str, list[TargetVersion]]
    checkins: list[CheckIn]
    reviews: list[ReviewEntry]
    actuals: list[ActualRow] = field(default_factory=list)
    with_actuals: bool = False


# ---------------------------------------------------------------- writing
def _month(value: date) -> str:
    return f"{value:%Y-%m}"


def _number(value: float | None) -> float | int | None:
    """Whole numbers written without '.0' (readable), others exactly (repr round-trips a float)."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def dump_plan_file(snapshot: PlanSnapshot) -> str:
    plan, kgi = snapshot.plan, snapshot.kgi
    data: dict[str, Any] = {
        FORMAT_NAME: FORMAT_VERSION,
        "plan": {"name": plan.name, "department": plan.department, "fiscal_start": _month(plan.fiscal_start),
                 "months": plan.months, "currency": plan.currency, "status": str(plan.status),
                 "template": plan.template},
        "kgi": None if kgi is None else {
            "key": kgi.key, "name": kgi.name, "unit": kgi.unit, "direction": str(kgi.direction),
            "aggregation": str(kgi.aggregation), "baseline": _number(kgi.baseline), "target": _number(kgi.target),
            "current": _number(kgi.current), "deadline": kgi.deadline.isoformat() if kgi.deadline else None,
            "basis": kgi.basis, "formula": kgi.formula},
        "csfs": [{"ref": f"csf{i + 1}", "name": c.name, "role": str(c.role), "contribution": _number(c.contribution),
                  "description": c.description, "actions": list(c.actions)} for i, c in enumerate(snapshot.csfs)],
        "kpis": [_kpi_entry(k, index) for k, index in zip(snapshot.kpis, snapshot.kpi_csf, strict=True)],
        "targets": {key: [{"version": v.version, "reason": v.reason,
                           "values": {_month(m): _number(x) for m, x in sorted(v.values.items())}}
                          for v in versions] for key, versions in snapshot.targets.items()},
        "checkins": [{"metric": c.metric_key, "month": _month(c.month), "status": str(c.status), "why": c.why,
                      "next_action": c.next_action, "owner": c.owner,
                      "due": c.due.isoformat() if c.due else None, "result": c.result} for c in snapshot.checkins],
        "reviews": [{"date": r.review_date.isoformat(), "metric": r.metric_key, "decision": r.decision,
                     "reason": r.reason} for r in snapshot.reviews],
    }
    if snapshot.with_actuals:
        data["actuals"] = [{"metric": a.metric_key, "month": _month(a.month), "value": _number(a.value),
                            "source": a.source, "import_file": a.import_file} for a in snapshot.actuals]
    # libyaml's emitter when present: the pure-Python one takes a second for a 36-month plan with its actuals.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, allow_unicode=True, sort_keys=False, width=100, default_flow_style=False)


def _kpi_entry(kpi: KPI, csf_index: int | None) -> dict[str, Any]:
    return {"key": kpi.key, "name": kpi.name, "csf": None if csf_index is None else f"csf{csf_index + 1}",
            "definition": kpi.definition, "unit": kpi.unit, "direction": str(kpi.direction),
            "kind": str(kpi.kind), "aggregation": str(kpi.aggregation), "ratio_weight": kpi.ratio_weight,
            "owner": kpi.owner, "data_source": kpi.data_source, "annual_target": _number(kpi.annual_target),
            "amber_threshold": _number(kpi.amber_threshold), "red_threshold": _number(kpi.red_threshold),
            "recovery_plan": kpi.recovery_plan, "rationale": kpi.rationale}


# ---------------------------------------------------------------- reading with line numbers
class _Located(dict):
    """A mapping that remembers its own line and each value's line (1-based)."""

    line: int = 0
    lines: dict[Any, int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader + line numbers; aliases refused (a file has no reason to use them, and they can explode)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise PlanFileError("report.plan_file.alias", "", event.start_mark.line + 1)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    mapping = _Located()
    mapping.line, mapping.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = value_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    """Typed access to a located mapping; every failure names `where.field` and its line."""

    def __init__(self, data: Any, where: str, line: int = 0):
        if not isinstance(data, _Located):
            raise PlanFileError("report.plan_file.not_mapping", where, line)
        self.data, self.where = data, where

    def line(self, name: str) -> int:
        return self.data.lines.get(name, self.data.line)

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, key: str, name: str, **values: Any) -> PlanFileError:
        return PlanFileError(key, self.path(name), self.line(name), **values)

    def raw(self, name: str, required: bool = False) -> Any:
        if name not in self.data or self.data[name] is None:
            if required:
                raise self.fail("report.plan_file.missing", name)
            return None
        return self.data[name]

    def text(self, name: str, required: bool = False, limit: int = MAX_TEXT_LENGTH) -> str:
        value = self.raw(name, required)
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise self.fail("report.plan_file.not_text", name)
        text = str(value)
        if required and not text.strip():
            raise self.fail("report.plan_file.missing", name)
        if len(text) > limit:
            raise self.fail("report.plan_file.too_long", name, max=limit)
        return text

    def key(self, name: str) -> str:
        text = self.text(name, required=True)
        if not _KEY.match(text):
            raise self.fail("report.plan_file.bad_key", name, value=text[:40])
        return text

    def number(self, name: str, required: bool = False) -> float | None:
        value = self.raw(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail("report.plan_file.not_number", name, value=str(value)[:40])
        return float(value)

    def choice(self, name: str, enum: type, default: Any = None) -> Any:
        value = self.raw(name, default is None)
        if value is None:
            return default
        try:
            return enum(str(value))
        except ValueError:
            raise self.fail("report.plan_file.bad_choice", name, value=str(value)[:40],
                            allowed=", ".join(str(e) for e in enum)) from None

    def month(self, name: str, required: bool = True) -> date | None:
        value = self.raw(name, required)
        return None if value is None else _parse_month(value, self.fail, name)

    def day(self, name: str) -> date | None:
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.fail("report.plan_file.bad_date", name, value=str(value)[:40]) from None

    def items(self, name: str) -> list[Any]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail("report.plan_file.not_list", name)
        return value

    def child(self, name: str, required: bool = True) -> _Reader | None:
        value = self.raw(name, required)
        return None if value is None else _Reader(value, self.path(name), self.line(name))


def _parse_month(value: Any, fail, name: str) -> date:
    if isinstance(value, date):
        return date(value.year, value.month, 1)
    found = _MONTH.match(str(value))
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise fail("report.plan_file.bad_month", name, value=str(value)[:40])
    return date(int(found.group(1)), int(found.group(2)), 1)


def _item_reader(parent: _Reader, name: str, index: int, item: Any) -> _Reader:
    line = item.line if isinstance(item, _Located) else parent.line(name)
    return _Reader(item, f"{parent.path(name)}[{index + 1}]", line)


def parse_plan_file(text: str) -> PlanSnapshot:
    """The snapshot in `text`, fully validated; PlanFileError names the first problem's field and line."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise PlanFileError("report.plan_file.too_big", "", 0, max_mb=MAX_FILE_BYTES // 1_000_000)
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PlanFileError("report.plan_file.syntax", "", mark.line + 1 if mark else 0,
                            detail=str(exc.problem or "")[:120]) from None
    except yaml.YAMLError:
        raise PlanFileError("report.plan_file.syntax", "", 0, detail="") from None
    root = _Reader(data, "")
    if root.raw(FORMAT_NAME) != FORMAT_VERSION:
        raise root.fail("report.plan_file.not_a_plan_file", FORMAT_NAME, version=FORMAT_VERSION)
    plan = _read_plan(root.child("plan"))
    kgi_reader = root.child("kgi", required=False)
    csfs, refs = _read_csfs(root)
    kpis, kpi_csf = _read_kpis(root, refs)
    keys = {k.key for k in kpis}
    kgi = _read_kgi(kgi_reader, keys) if kgi_reader else None
    if kgi is not None and kgi.key in keys:
        raise kgi_reader.fail("report.plan_file.duplicate", "key", value=kgi.key)
    metrics = keys | ({kgi.key} if kgi else set())
    actuals_reader = root.raw("actuals") is not None
    values: list[_Value] = []
    snapshot = PlanSnapshot(plan=plan, kgi=kgi, csfs=csfs, kpis=kpis, kpi_csf=kpi_csf,
                            targets=_read_targets(root, metrics, values), checkins=_read_checkins(root, metrics),
                            reviews=_read_reviews(root, metrics), actuals=_read_actuals(root, values),
                            with_actuals=actuals_reader)
    if kgi is not None:
        values += [_Value(kgi.key, getattr(kgi, name), kgi.key, kgi_reader.path(name), kgi_reader.line(name))
                   for name in ("baseline", "target", "current") if getattr(kgi, name) is not None]
    for index, kpi in enumerate(kpis):
        if kpi.annual_target is not None:
            item = _item_reader(root, "kpis", index, root.items("kpis")[index])
            values.append(_Value(kpi.key, kpi.annual_target, kpi.key, item.path("annual_target"),
                                 item.line("annual_target")))
    _check_ranges(values, {m.key: value_kind(m.unit, m.aggregation) for m in ([kgi] if kgi else []) + kpis})
    return snapshot


def _read_plan(r: _Reader) -> Plan:
    months = r.number("months", required=True)
    if not months.is_integer() or not 1 <= months <= MAX_MONTHS:
        raise r.fail("report.plan_file.bad_months", "months", max=MAX_MONTHS)
    return Plan(name=r.text("name", required=True, limit=200), department=r.text("department", limit=200),
                fiscal_start=r.month("fiscal_start"), months=int(months),
                currency=r.text("currency", limit=8) or "JPY", status=r.choice("status", PlanStatus, PlanStatus.DRAFT),
                template=r.text("template", limit=200))


def _read_kgi(r: _Reader, kpi_keys: set[str]) -> KGI:
    kgi = KGI(plan_id=0, key=r.key("key"), name=r.text("name", limit=200), unit=r.text("unit", limit=40),
              direction=r.choice("direction", Direction, Direction.UP),
              aggregation=r.choice("aggregation", Aggregation, Aggregation.SUM), baseline=r.number("baseline"),
              target=r.number("target"), current=r.number("current"), deadline=r.day("deadline"),
              basis=r.text("basis"), formula=r.text("formula", limit=500))
    if kgi.formula.strip():
        try:
            names = parse_formula(kgi.formula).names
        except FormulaError:
            raise r.fail("report.plan_file.bad_formula", "formula", value=kgi.formula[:80]) from None
        unknown = sorted(set(names) - kpi_keys)
        if unknown:
            raise r.fail("report.plan_file.unknown_metric", "formula", value=", ".join(unknown)[:80])
    return kgi


def _read_csfs(root: _Reader) -> tuple[list[CSF], dict[str, int]]:
    csfs, refs = [], {}
    for index, item in enumerate(root.items("csfs")):
        r = _item_reader(root, "csfs", index, item)
        ref = r.text("ref", required=True, limit=64)
        if ref in refs:
            raise r.fail("report.plan_file.duplicate", "ref", value=ref)
        actions = []
        for number, action in enumerate(r.items("actions")):
            if isinstance(action, (dict, list)) or action is None or len(str(action)) > MAX_TEXT_LENGTH:
                raise PlanFileError("report.plan_file.not_text", f"{r.path('actions')}[{number + 1}]",
                                    r.line("actions"))
            actions.append(str(action))
        refs[ref] = len(csfs)
        csfs.append(CSF(plan_id=0, name=r.text("name", required=True, limit=200),
                        role=r.choice("role", CSFRole, CSFRole.PRIMARY), contribution=r.number("contribution") or 0.0,
                        actions=actions, description=r.text("description")))
    return csfs, refs


def _read_kpis(root: _Reader, refs: dict[str, int]) -> tuple[list[KPI], list[int | None]]:
    kpis, links, seen = [], [], set()
    for index, item in enumerate(root.items("kpis")):
        r = _item_reader(root, "kpis", index, item)
        key = r.key("key")
        if key in seen:
            raise r.fail("report.plan_file.duplicate", "key", value=key)
        seen.add(key)
        ref = r.text("csf", limit=64)
        if ref and ref not in refs:
            raise r.fail("report.plan_file.unknown_csf", "csf", value=ref)
        amber, red = r.number("amber_threshold"), r.number("red_threshold")
        for name, value in (("amber_threshold", amber), ("red_threshold", red)):
            if value is not None and not 0 < value <= 2:
                raise r.fail("report.plan_file.bad_threshold", name, value=value)
        kpis.append(KPI(plan_id=0, key=key, name=r.text("name", required=True, limit=200),
                        definition=r.text("definition"), unit=r.text("unit", limit=40),
                        direction=r.choice("direction", Direction, Direction.UP),
                        kind=r.choice("kind", Kind, Kind.LEADING),
                        aggregation=r.choice("aggregation", Aggregation, Aggregation.SUM),
                        ratio_weight=r.text("ratio_weight", limit=500), owner=r.text("owner", limit=200),
                        data_source=r.text("data_source", limit=500), annual_target=r.number("annual_target"),
                        amber_threshold=0.95 if amber is None else amber, red_threshold=0.85 if red is None else red,
                        recovery_plan=r.text("recovery_plan"), rationale=r.text("rationale")))
        links.append(refs[ref] if ref else None)
    return kpis, links


def _month_values(r: _Reader, name: str, metric: str, checks: list[_Value]) -> dict[date, float]:
    values = r.raw(name, required=True)
    if not isinstance(values, _Located):
        raise r.fail("report.plan_file.not_mapping", name)
    inner = _Reader(values, r.path(name), r.line(name))
    months = {}
    for month in values:
        day, value = _parse_month(month, inner.fail, str(month)), inner.number(month, required=True)
        months[day] = value
        checks.append(_Value(metric, value, f"{metric}, {day:%Y-%m}", inner.path(str(month)), inner.line(month)))
    return months


def _read_targets(root: _Reader, metrics: set[str], checks: list[_Value]) -> dict[str, list[TargetVersion]]:
    reader = root.child("targets", required=False)
    if reader is None:
        return {}
    targets = {}
    for key in reader.data:
        if key not in metrics:
            raise reader.fail("report.plan_file.unknown_metric", str(key), value=str(key)[:40])
        versions = []
        for index, item in enumerate(reader.items(key)):
            r = _item_reader(reader, key, index, item)
            number = r.number("version", required=True)
            if not number.is_integer() or (versions and number <= versions[-1].version):
                raise r.fail("report.plan_file.bad_version", "version")
            versions.append(TargetVersion(int(number), r.text("reason"), _month_values(r, "values", key, checks)))
        targets[key] = versions
    return targets


def _metric_items(root: _Reader, key: str, metrics: set[str]) -> Iterator[tuple[_Reader, str]]:
    """Each item of the list `key` with its metric, which must be one of the plan's."""
    for index, item in enumerate(root.items(key)):
        r = _item_reader(root, key, index, item)
        metric = r.text("metric", required=True, limit=64)
        if metric not in metrics:
            raise r.fail("report.plan_file.unknown_metric", "metric", value=metric)
        yield r, metric


def _read_checkins(root: _Reader, metrics: set[str]) -> list[CheckIn]:
    checkins = []
    for r, metric in _metric_items(root, "checkins", metrics):
        checkins.append(CheckIn(plan_id=0, metric_key=metric, month=r.month("month"),
                                status=r.choice("status", Status, Status.NO_DATA), why=r.text("why"),
                                next_action=r.text("next_action"), owner=r.text("owner", limit=200),
                                due=r.day("due"), result=r.text("result")))
    return checkins


def _read_reviews(root: _Reader, metrics: set[str]) -> list[ReviewEntry]:
    reviews = []
    for r, metric in _metric_items(root, "reviews", metrics):
        decision = r.text("decision", required=True, limit=20)
        if decision not in REVIEW_DECISIONS:
            raise r.fail("report.plan_file.bad_choice", "decision", value=decision, allowed=", ".join(REVIEW_DECISIONS))
        review_date = r.day("date")
        if review_date is None:
            raise r.fail("report.plan_file.missing", "date")
        reviews.append(ReviewEntry(review_date, metric, decision, r.text("reason")))
    return reviews


def _read_actuals(root: _Reader, checks: list[_Value]) -> list[ActualRow]:
    rows = []
    for index, item in enumerate(root.items("actuals")):
        r = _item_reader(root, "actuals", index, item)
        rows.append(ActualRow(r.text("metric", required=True, limit=64), r.month("month"), r.number("value", required=True),
                              r.text("source", limit=40), r.text("import_file", limit=500)))
        checks.append(_Value(rows[-1].metric_key, rows[-1].value, f"{rows[-1].metric_key}, {rows[-1].month:%Y-%m}",
                             r.path("value"), r.line("value")))
    return rows
