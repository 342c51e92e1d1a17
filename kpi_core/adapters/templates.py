"""Department templates: bilingual YAML files that seed a whole plan (KGI, CSFs, KPIs, monthly targets).

Built-in templates live in data/templates/*.yaml, user templates in data/templates/user/*.yaml. Every file is checked
against the schema below; a broken file yields a TemplateError naming the file and the field, and the others load.

Schema (every label and help text is a map {ja: ..., en: ...}; `unit` may also be a plain string such as JPY or %):
  id (a-z0-9_-), order (int, optional), department, name, description (optional)
  kgi: key, name, unit, direction, aggregation, baseline, target, basis, formula (over KPI keys), aliases {ja, en}
  csfs[]: key, name, role (primary/fallback), contribution (KGI units), description, actions {ja: [...], en: [...]}
  kpis[]: key, csf, name, definition, unit, direction, kind, aggregation, ratio_weight (required for ratio),
          annual_target (in the KPI's own aggregation), thresholds {amber, red}, recovery_plan, rationale,
          data_source, owner, aliases {ja, en}
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from kpi_core import safe_yaml
from kpi_core.domain.drivers import FormulaError, implied_kgi, parse_formula
from kpi_core.domain.model import (
    KGI,
    KPI,
    Aggregation,
    CSFRole,
    Direction,
    Kind,
    add_months,
)
from kpi_core.domain.units import is_rate
from kpi_core.errors import WorkbenchError
from kpi_core.i18n import LANGUAGES, normalise_language, t

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "data" / "templates"
USER_SUBDIR = "user"
MAX_TEMPLATE_BYTES = 256 * 1024
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # also a safe file name
KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")  # metric keys are formula names

Text = str | dict[str, str]


class TemplateError(WorkbenchError):
    """A template problem; `values` always name the `file` and the `field`."""


# ---------------------------------------------------------------- the parsed template
def localized(value: Text | None, lang: str) -> str:
    """The text of a bilingual value in `lang`, falling back to the other language."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    lang = normalise_language(lang)
    return value.get(lang) or next((value[other] for other in LANGUAGES if value.get(other)), "")


@dataclass(frozen=True)
class TemplateMetric:
    """What the KGI and the KPIs of a template share: key, bilingual name and unit, how the figure behaves, and
    `aliases`, the export labels it goes by."""

    key: str
    name: Text
    unit: Text
    direction: Direction
    aggregation: Aggregation
    aliases: dict[str, list[str]]


@dataclass(frozen=True)
class TemplateKGI(TemplateMetric):
    """The KGI a template starts a plan with."""

    baseline: float | None
    target: float | None
    basis: Text
    formula: str


@dataclass(frozen=True)
class TemplateCSF:
    """A CSF of a template, named by `key` so that its KPIs can point at it."""

    key: str
    name: Text
    actions: dict[str, list[str]]  # the actions that make it happen, a list per language
    role: CSFRole
    contribution: float
    description: Text


@dataclass(frozen=True)
class TemplateKPI(TemplateMetric):
    """A KPI of a template, under the CSF keyed `csf` (None: directly under the KGI)."""

    csf: str | None
    definition: Text
    kind: Kind
    ratio_weight: str
    annual_target: float
    amber: float
    red: float
    recovery_plan: Text
    rationale: Text
    data_source: Text
    owner: Text


@dataclass(frozen=True)
class Template:
    """A department template: its KGI -> CSF -> KPI tree, shown in the gallery (by `order`) and copied into a new
    plan. `user`: a file the user added, beside the shipped ones."""

    id: str
    order: int
    department: Text
    name: Text
    description: Text
    kgi: TemplateKGI
    csfs: tuple[TemplateCSF, ...]
    kpis: tuple[TemplateKPI, ...]
    path: Path | None = None
    user: bool = False
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    def text(self, value: Text | None, lang: str) -> str:
        return localized(value, lang)

    def texts(self, value: Mapping[str, list[str]] | None, lang: str) -> list[str]:
        """A bilingual list (actions, aliases) in `lang`, falling back to the other language."""
        if not value:
            return []
        lang = normalise_language(lang)
        return list(value.get(lang) or next((value[o] for o in LANGUAGES if value.get(o)), []))

    @property
    def growth(self) -> float | None:
        if not self.kgi.baseline or self.kgi.target is None:
            return None
        return self.kgi.target / self.kgi.baseline - 1

    def model(self, lang: str, plan_id: int = 0) -> tuple[KGI, list[KPI]]:
        """The template's KGI and KPIs as model objects (not saved), e.g. for the driver maths."""
        return kgi_model(self, lang, plan_id), [kpi_model(self, k, lang, plan_id, None) for k in self.kpis]

    def preview(self, lang: str, months: int = 12) -> dict[str, Any]:
        """What a gallery card shows: KGI, CSFs, KPIs with their monthly value, the implied KGI, tree edges."""
        kgi, kpis = self.model(lang)
        implied = None
        if self.kgi.formula:
            try:
                result = implied_kgi(kgi, kpis, months)
                implied = {"annual": result.annual, "monthly": result.monthly, "over_plan": result.over_plan}
            except FormulaError:
                implied = None
        return {
            "id": self.id, "user": self.user,
            "name": self.text(self.name, lang), "description": self.text(self.description, lang),
            "department": self.text(self.department, lang),
            "kgi": {"key": self.kgi.key, "name": kgi.name, "unit": kgi.unit, "baseline": kgi.baseline,
                    "target": kgi.target, "growth": self.growth, "formula": kgi.formula, "basis": kgi.basis},
            "implied": implied,
            "csfs": [{"key": c.key, "name": self.text(c.name, lang), "role": c.role.value,
                      "contribution": c.contribution, "description": self.text(c.description, lang),
                      "actions": self.texts(c.actions, lang)} for c in self.csfs],
            "kpis": [{"key": k.key, "csf": k.csf, "name": m.name, "unit": m.unit, "kind": k.kind.value,
                      "direction": k.direction.value, "aggregation": k.aggregation.value,
                      "annual_target": k.annual_target, "monthly": _monthly(k, months),
                      "definition": m.definition} for k, m in zip(self.kpis, kpis, strict=True)],
            "edges": self.edges(),
        }

    def edges(self) -> list[tuple[str, str]]:
        """KPI tree edges parent -> child: KGI -> CSF, CSF -> KPI (a KPI without a CSF hangs from the KGI)."""
        edges = [(self.kgi.key, c.key) for c in self.csfs]
        edges += [(k.csf or self.kgi.key, k.key) for k in self.kpis]
        return edges


def _monthly(kpi: TemplateKPI, months: int) -> float:
    return kpi.annual_target / months if kpi.aggregation is Aggregation.SUM else kpi.annual_target


# ---------------------------------------------------------------- schema check
def _path(at: str, name: str) -> str:
    return f"{at}.{name}" if at else name


class _Reader:
    """Reads one template's raw data, raising TemplateError(file, field) at the first problem.
    Each accessor takes the field's parent path `at` ('' for the top level, 'kgi', 'kpis[2]'...)."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, key: str, where: str, **values: Any) -> TemplateError:
        return TemplateError(f"engine.template.{key}", file=self.file, field=where, **values)

    def get(self, data: Mapping, name: str, at: str, required: bool = True) -> Any:
        value = data.get(name)
        if value is None and required:
            raise self.fail("missing", _path(at, name))
        return value

    def mapping(self, data: Mapping, name: str, at: str) -> dict:
        value = self.get(data, name, at)
        if not isinstance(value, dict):
            raise self.fail("type", _path(at, name), expected="map")
        return value

    def items(self, data: Mapping, name: str, at: str) -> list[dict]:
        value = self.get(data, name, at)
        where = _path(at, name)
        if not isinstance(value, list) or not value:
            raise self.fail("type", where, expected="list")
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail("type", f"{where}[{index}]", expected="map")
        return value

    def string(self, data: Mapping, name: str, at: str, pattern: re.Pattern | None = None,
               required: bool = True) -> str:
        value = self.get(data, name, at, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail("type", _path(at, name), expected="text")
        if pattern is not None and not pattern.match(value):
            raise self.fail("pattern", _path(at, name), value=value)
        return value.strip()

    def number(self, data: Mapping, name: str, at: str, required: bool = True) -> float | None:
        value = self.get(data, name, at, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail("type", _path(at, name), expected="number")
        return float(value)

    def choice(self, data: Mapping, name: str, at: str, enum: type, default: Any = None) -> Any:
        value = self.get(data, name, at, default is None)
        if value is None:
            return default
        try:
            return enum(value)
        except ValueError:
            raise self.fail("choice", _path(at, name), value=value,
                            allowed=", ".join(e.value for e in enum)) from None

    def text(self, data: Mapping, name: str, at: str, required: bool = True, plain_allowed: bool = False) -> Text:
        """A bilingual text {ja, en}; a plain string only where `plain_allowed` (units)."""
        value = self.get(data, name, at, required)
        if value is None:
            return {lang: "" for lang in LANGUAGES}
        if plain_allowed and isinstance(value, str) and value.strip():
            return value.strip()
        if not isinstance(value, dict):
            raise self.fail("type", _path(at, name), expected="{ja, en}")
        for lang in LANGUAGES:
            text = value.get(lang)
            if not isinstance(text, str) or (required and not text.strip()):
                raise self.fail("language", f"{_path(at, name)}.{lang}", lang=lang)
        return {lang: value[lang].strip() for lang in LANGUAGES}

    def text_lists(self, data: Mapping, name: str, at: str, required: bool = False) -> dict[str, list[str]]:
        value = self.get(data, name, at, required)
        if value is None:
            return {lang: [] for lang in LANGUAGES}
        if not isinstance(value, dict):
            raise self.fail("type", _path(at, name), expected="{ja: [...], en: [...]}")
        lists = {}
        for lang in LANGUAGES:
            items = value.get(lang, [])
            if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
                raise self.fail("type", f"{_path(at, name)}.{lang}", expected="list of text")
            lists[lang] = [i.strip() for i in items]
        return lists


def _is_rate_unit(unit: Text) -> bool:
    return any(is_rate(u) for u in ([unit] if isinstance(unit, str) else unit.values()))


def parse_template(text: str, file: str, path: Path | None = None, user: bool = False) -> Template:
    """Parse and check one template's YAML text; `file` names it in errors."""
    reader = _Reader(file)
    if len(text.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        raise reader.fail("too_large", "", limit=MAX_TEMPLATE_BYTES)
    try:
        data = safe_yaml.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else "?"
        raise reader.fail("yaml", f"line {line}", line=line,
                          detail=str(getattr(exc, "problem", "") or exc)) from None
    if not isinstance(data, dict):
        raise reader.fail("type", "(top)", expected="map")
    template_id = reader.string(data, "id", "", ID_PATTERN)
    order = data.get("order", 100)
    if isinstance(order, bool) or not isinstance(order, int):
        raise reader.fail("type", "order", expected="integer")
    name = reader.text(data, "name", "")
    department = reader.text(data, "department", "", required=False)
    description = reader.text(data, "description", "", required=False)
    kpis = _read_kpis(reader, data)
    _check_unique(reader, "kpis", [k.key for k in kpis])
    csfs = _read_csfs(reader, data)
    _check_unique(reader, "csfs", [c.key for c in csfs])
    kgi = _read_kgi(reader, data, {k.key for k in kpis})
    _check_links(reader, kgi, csfs, kpis)
    return Template(id=template_id, order=order, department=department, name=name, description=description,
                    kgi=kgi, csfs=tuple(csfs), kpis=tuple(kpis), path=path, user=user, raw=data)


def _read_kgi(reader: _Reader, data: Mapping, kpi_keys: set[str]) -> TemplateKGI:
    at = "kgi"
    raw = reader.mapping(data, at, "")
    unit = reader.text(raw, "unit", at, plain_allowed=True)
    kgi = TemplateKGI(
        key=reader.string(raw, "key", at, KEY_PATTERN), name=reader.text(raw, "name", at),
        unit=unit,
        direction=reader.choice(raw, "direction", at, Direction, Direction.UP),
        aggregation=reader.choice(raw, "aggregation", at, Aggregation, Aggregation.SUM),
        baseline=reader.number(raw, "baseline", at, required=False),
        target=reader.number(raw, "target", at, required=False),
        basis=reader.text(raw, "basis", at, required=False),
        formula=reader.string(raw, "formula", at, required=False),
        aliases=reader.text_lists(raw, "aliases", at))
    if _is_rate_unit(unit):
        for name in ("baseline", "target"):
            value = getattr(kgi, name)
            if value is not None and not 0 <= value <= 1:
                raise reader.fail("rate_range", _path(at, name), value=value)
    if kgi.formula:
        _check_formula(reader, kgi.formula, _path(at, "formula"), kpi_keys)
    if kgi.key in kpi_keys:
        raise reader.fail("duplicate", _path(at, "key"), value=kgi.key)
    return kgi


def _check_formula(reader: _Reader, text: str, where: str, allowed: set[str]) -> None:
    try:
        parse_formula(text, allowed=allowed)
    except FormulaError as exc:
        if exc.key == "engine.formula.unknown_name":
            raise reader.fail("unknown_name", where, name=exc.values.get("name", "")) from None
        raise reader.fail("formula", where, formula=text) from None


def _read_csfs(reader: _Reader, data: Mapping) -> list[TemplateCSF]:
    if data.get("csfs") in (None, []):
        return []
    csfs = []
    for index, raw in enumerate(reader.items(data, "csfs", "")):
        where = f"csfs[{index}]"
        role = reader.choice(raw, "role", where, CSFRole, CSFRole.PRIMARY)
        csfs.append(TemplateCSF(
            key=reader.string(raw, "key", where, KEY_PATTERN), name=reader.text(raw, "name", where),
            role=role, contribution=reader.number(raw, "contribution", where, required=False) or 0.0,
            description=reader.text(raw, "description", where, required=False),
            actions=reader.text_lists(raw, "actions", where)))
    return csfs


def _read_kpis(reader: _Reader, data: Mapping) -> list[TemplateKPI]:
    kpis = []
    for index, raw in enumerate(reader.items(data, "kpis", "")):
        where = f"kpis[{index}]"
        unit = reader.text(raw, "unit", where, required=False, plain_allowed=True)
        aggregation = reader.choice(raw, "aggregation", where, Aggregation, Aggregation.SUM)
        target = reader.number(raw, "annual_target", where)
        if _is_rate_unit(unit) and not 0 <= target <= 1:
            raise reader.fail("rate_range", f"{where}.annual_target", value=target)
        thresholds = raw.get("thresholds") or {}
        if not isinstance(thresholds, dict):
            raise reader.fail("type", f"{where}.thresholds", expected="{amber, red}")
        amber = reader.number(thresholds, "amber", f"{where}.thresholds", required=False)
        red = reader.number(thresholds, "red", f"{where}.thresholds", required=False)
        amber, red = (0.95 if amber is None else amber), (0.85 if red is None else red)
        if not 0 < red <= amber <= 1:
            raise reader.fail("thresholds", f"{where}.thresholds", amber=amber, red=red)
        weight = reader.string(raw, "ratio_weight", where, required=False)
        if aggregation is Aggregation.RATIO and not weight:
            raise reader.fail("missing", f"{where}.ratio_weight")
        kpis.append(TemplateKPI(
            key=reader.string(raw, "key", where, KEY_PATTERN),
            csf=reader.string(raw, "csf", where, required=False) or None,
            name=reader.text(raw, "name", where),
            definition=reader.text(raw, "definition", where, required=False),
            unit=unit, direction=reader.choice(raw, "direction", where, Direction, Direction.UP),
            kind=reader.choice(raw, "kind", where, Kind, Kind.LEADING), aggregation=aggregation,
            ratio_weight=weight, annual_target=target, amber=amber, red=red,
            recovery_plan=reader.text(raw, "recovery_plan", where, required=False),
            rationale=reader.text(raw, "rationale", where, required=False),
            data_source=reader.text(raw, "data_source", where, required=False),
            owner=reader.text(raw, "owner", where, required=False),
            aliases=reader.text_lists(raw, "aliases", where)))
    return kpis


def _check_unique(reader: _Reader, label: str, keys: list[str]) -> None:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise reader.fail("duplicate", f"{label}[{index}].key", value=key)
        seen.add(key)


def _check_links(reader: _Reader, kgi: TemplateKGI, csfs: list[TemplateCSF], kpis: list[TemplateKPI]) -> None:
    """KPIs pointing at existing CSFs, ratio weights over known KPIs."""
    csf_keys = {c.key for c in csfs}
    kpi_keys = {k.key for k in kpis}
    for index, kpi in enumerate(kpis):
        if kpi.csf is not None and kpi.csf not in csf_keys:
            raise reader.fail("unknown_name", f"kpis[{index}].csf", name=kpi.csf)
        if kpi.ratio_weight:
            _check_formula(reader, kpi.ratio_weight, f"kpis[{index}].ratio_weight", kpi_keys)


# ---------------------------------------------------------------- loading
def _template_files(root: Path) -> list[tuple[Path, bool]]:
    found = []
    for folder, user in ((root, False), (root / USER_SUBDIR, True)):
        if folder.is_dir():
            found += [(p, user) for p in sorted(folder.iterdir()) if p.suffix in (".yaml", ".yml") and p.is_file()]
    return found


def load_template_file(path: Path, user: bool = False) -> Template:
    """One template file, parsed once per version of the file (the gallery is drawn on every rerun)."""
    try:
        stat = path.stat()
    except OSError:
        return _read_template_file(path, user)
    return _parsed_template_file(path, user, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=128)
def _parsed_template_file(path: Path, user: bool, mtime_ns: int, size: int) -> Template:
    """Keyed by the file's modification time and size, so an edited file is read again. Templates are frozen."""
    return _read_template_file(path, user)


def _read_template_file(path: Path, user: bool) -> Template:
    label = path.name if not user else f"{USER_SUBDIR}/{path.name}"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TemplateError("engine.template.unreadable", file=label, field="", detail=str(exc)) from None
    if len(raw) > MAX_TEMPLATE_BYTES:
        raise TemplateError("engine.template.too_large", file=label, field="", limit=MAX_TEMPLATE_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TemplateError("engine.template.encoding", file=label, field="") from None
    return parse_template(text, label, path, user)


def load_templates(directory: Path | str | None = None) -> tuple[list[Template], list[TemplateError]]:
    """Every template of `directory` and its user/ folder: (good templates, errors of the broken files)."""
    root = Path(directory) if directory is not None else TEMPLATE_DIR
    templates: dict[str, Template] = {}
    errors: list[TemplateError] = []
    for path, user in _template_files(root):
        try:
            template = load_template_file(path, user)
        except TemplateError as exc:
            errors.append(exc)
            continue
        if template.id in templates:
            label = path.name if not user else f"{USER_SUBDIR}/{path.name}"
            errors.append(TemplateError("engine.template.duplicate_id", file=label, field="id", value=template.id))
            continue
        templates[template.id] = template
    ordered = sorted(templates.values(), key=lambda tpl: (tpl.user, tpl.order, tpl.id))
    return ordered, errors


def find_template(template_id: str, directory: Path | str | None = None) -> Template | None:
    return next((tpl for tpl in load_templates(directory)[0] if tpl.id == template_id), None)


def aliases_for(template: Template) -> dict[str, list[str]]:
    """Column names that usual exports use for each metric (KGI and KPIs): aliases in both languages, the names,
    and the key itself, without duplicates, for the CSV mapping."""
    result = {}
    entries = [(template.kgi.key, template.kgi.aliases, template.kgi.name)]
    entries += [(k.key, k.aliases, k.name) for k in template.kpis]
    for key, aliases, name in entries:
        names = [*aliases.get("ja", []), *aliases.get("en", [])]
        names += [localized(name, lang) for lang in LANGUAGES] + [key]
        result[key] = list(dict.fromkeys(n for n in names if n))
    return result


# ---------------------------------------------------------------- plans from templates
def kgi_model(template: Template, lang: str, plan_id: int, deadline: date | None = None) -> KGI:
    k = template.kgi
    return KGI(plan_id=plan_id, key=k.key, name=localized(k.name, lang), unit=localized(k.unit, lang),
               direction=k.direction, aggregation=k.aggregation, baseline=k.baseline, target=k.target,
               deadline=deadline, basis=localized(k.basis, lang), formula=k.formula)


def kpi_model(template: Template, k: TemplateKPI, lang: str, plan_id: int, csf_id: int | None,
               annual_target: float | None = None) -> KPI:
    return KPI(plan_id=plan_id, key=k.key, name=localized(k.name, lang), csf_id=csf_id,
               definition=localized(k.definition, lang), unit=localized(k.unit, lang), direction=k.direction,
               kind=k.kind, aggregation=k.aggregation, ratio_weight=k.ratio_weight,
               owner=localized(k.owner, lang), data_source=localized(k.data_source, lang),
               annual_target=k.annual_target if annual_target is None else annual_target,
               amber_threshold=k.amber, red_threshold=k.red, recovery_plan=localized(k.recovery_plan, lang),
               rationale=localized(k.rationale, lang))


@dataclass(frozen=True)
class Scaled:
    factor: float
    baseline: float | None
    target: float | None
    kpi_targets: dict[str, float]


def scaled(template: Template, baseline: float | None, lang: str) -> Scaled:
    """Scale the example to the user's baseline: same growth %, KGI target x factor, and the volume KPIs (SUM
    counts and money, LAST levels; never rates or per-unit averages) by a common factor chosen so that the
    implied KGI scales by the same factor. Volumes are rounded to whole units, so proportionality holds
    to that rounding."""
    kgi = template.kgi
    targets = {k.key: k.annual_target for k in template.kpis}
    if baseline is None:
        return Scaled(1.0, kgi.baseline, kgi.target, targets)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)) or not math.isfinite(baseline) \
            or baseline <= 0:
        raise TemplateError("engine.template.bad_baseline", file=template.id, field="baseline", value=baseline)
    if not kgi.baseline:
        raise TemplateError("engine.template.cannot_scale", file=template.id, field=_path("kgi", "baseline"))
    factor = baseline / kgi.baseline
    volumes = [k for k in template.kpis
               if k.aggregation in (Aggregation.SUM, Aggregation.LAST) and not _is_rate_unit(k.unit)]
    driver_factor = _driver_factor(template, volumes, factor, lang)
    for kpi in volumes:
        targets[kpi.key] = _round_volume(kpi.annual_target * driver_factor)
    target = round(kgi.target * factor) if kgi.target is not None else None
    return Scaled(factor, float(baseline), target, targets)


def _driver_factor(template: Template, volumes: list[TemplateKPI], factor: float, lang: str) -> float:
    """The factor g on the volume KPIs that multiplies the implied KGI by `factor`: for a formula homogeneous of
    degree d in those KPIs, g = factor ** (1/d) (d = 1 for every funnel-like template)."""
    formula_names = set(parse_formula(template.kgi.formula).names) if template.kgi.formula else set()
    in_formula = [k.key for k in volumes if k.key in formula_names]
    if not in_formula:
        return factor
    _, kpis = template.model(lang)
    base = {k.key: k.annual_target for k in kpis}  # any positive point will do to measure the degree
    formula = parse_formula(template.kgi.formula)

    def implied(g: float) -> float:
        return formula.evaluate({**base, **{key: base[key] * g for key in in_formula}})

    try:
        y1, y2, y3 = implied(1.0), implied(2.0), implied(3.0)
        degree = math.log(y2 / y1) / math.log(2)
        if degree > 0 and abs(y3 / y1 - 3 ** degree) <= 1e-9 * abs(y3 / y1):
            return factor ** (1 / round(degree)) if abs(degree - round(degree)) < 1e-9 else factor ** (1 / degree)
    except (FormulaError, ValueError, ZeroDivisionError):
        pass
    return factor  # not homogeneous: scale the volumes by the KGI factor itself


def _round_volume(value: float) -> float:
    """Whole units for values of 100 or more (under 0.5 % error); two decimals for small ones."""
    return float(round(value)) if abs(value) >= 100 else round(value, 2)


def plan_deadline(fiscal_start: date, months: int) -> date:
    return add_months(fiscal_start, months) - timedelta(days=1)


# ---------------------------------------------------------------- plans back to templates
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def _both(text: str, original: Text | None, lang: str) -> Text:
    """Keep the template's bilingual text when the plan still says the same; else the plan's text in both."""
    if original is not None and not isinstance(original, str) and localized(original, lang) == text:
        return dict(original)
    if original is not None and isinstance(original, str) and original == text:
        return original
    return {other: text for other in LANGUAGES}


def _both_lists(items: list[str], original: Mapping[str, list[str]] | None, lang: str) -> dict[str, list[str]]:
    if original and list(original.get(normalise_language(lang), [])) == list(items):
        return {other: list(original.get(other, [])) for other in LANGUAGES}
    return {other: list(items) for other in LANGUAGES}


def plan_to_template_yaml(store, plan_id: int, lang: str, template_id: str | None = None) -> str:
    """A plan's design as template YAML (to save as a user template). Texts the plan shares with the template it
    came from keep both languages; the plan's own texts fill both language fields."""
    lang = normalise_language(lang)
    plan = store.get_plan(plan_id)
    kgi = store.get_kgi(plan_id)
    if kgi is None:
        raise TemplateError("engine.template.plan_incomplete", file=plan.name, field="kgi")
    source = find_template(plan.template) if plan.template else None
    source_csfs = {localized(c.name, lang): c for c in source.csfs} if source else {}
    source_kpis = {k.key: k for k in source.kpis} if source else {}
    csfs = store.list_csfs(plan_id, include_retired=False)
    csf_keys: dict[int, str] = {}
    csf_data = []
    for index, csf in enumerate(csfs):
        original = source_csfs.get(csf.name)
        key = original.key if original else f"csf_{index + 1}"
        csf_keys[csf.id] = key
        csf_data.append({
            "key": key, "name": _both(csf.name, original.name if original else None, lang),
            "role": csf.role.value, "contribution": csf.contribution,
            "description": _both(csf.description, original.description if original else None, lang),
            "actions": _both_lists(csf.actions, original.actions if original else None, lang)})
    kpi_data = [_kpi_entry(kpi, source_kpis.get(kpi.key), csf_keys, lang) for kpi in store.list_kpis(plan_id)]
    base = source.kgi if source and source.kgi.key == kgi.key else None
    data = {
        "id": template_id or "-".join(filter(None, ["plan", str(plan_id), _slug(plan.name)])),
        "order": 100,
        "department": _both(plan.department, source.department if source else None, lang),
        "name": _both(plan.name, source.name if source else None, lang),
        "description": {other: t("engine.template.saved_from_plan", other, name=plan.name) for other in LANGUAGES},
        "kgi": {
            "key": kgi.key, "name": _both(kgi.name, base.name if base else None, lang),
            "unit": _both(kgi.unit, base.unit if base else None, lang),
            "direction": kgi.direction.value, "aggregation": kgi.aggregation.value,
            "baseline": kgi.baseline, "target": kgi.target,
            "basis": _both(kgi.basis, base.basis if base else None, lang), "formula": kgi.formula,
            "aliases": dict(base.aliases) if base else {other: [kgi.name] for other in LANGUAGES}},
        "csfs": csf_data or None,
        "kpis": kpi_data,
    }
    if not data["csfs"]:
        del data["csfs"]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def _kpi_entry(kpi: KPI, original: TemplateKPI | None, csf_keys: Mapping[int, str], lang: str) -> dict[str, Any]:
    def both(text: str, name: str) -> Text:
        return _both(text, getattr(original, name) if original else None, lang)

    entry: dict[str, Any] = {"key": kpi.key}
    if kpi.csf_id in csf_keys:
        entry["csf"] = csf_keys[kpi.csf_id]
    entry.update({
        "name": both(kpi.name, "name"), "definition": both(kpi.definition, "definition"),
        "unit": both(kpi.unit, "unit"), "direction": kpi.direction.value,
        "kind": kpi.kind.value, "aggregation": kpi.aggregation.value})
    if kpi.ratio_weight:
        entry["ratio_weight"] = kpi.ratio_weight
    entry.update({
        "annual_target": kpi.annual_target if kpi.annual_target is not None else 0,
        "thresholds": {"amber": kpi.amber_threshold, "red": kpi.red_threshold},
        "recovery_plan": both(kpi.recovery_plan, "recovery_plan"), "rationale": both(kpi.rationale, "rationale"),
        "data_source": both(kpi.data_source, "data_source"), "owner": both(kpi.owner, "owner"),
        "aliases": dict(original.aliases) if original else {other: [kpi.name] for other in LANGUAGES}})
    return entry


def _file_label(yaml_text: str) -> str:
    """The name the new file will have, for error messages: <id>.yaml when the id is readable."""
    try:
        data = safe_yaml.load(yaml_text)
    except yaml.YAMLError:
        data = None
    template_id = data.get("id") if isinstance(data, dict) else None
    return f"{template_id}.yaml" if isinstance(template_id, str) and ID_PATTERN.match(template_id) else "template.yaml"


def save_user_template(yaml_text: str, directory: Path | str | None = None,
                       reserved_ids: Iterable[str] | None = None) -> Path:
    """Validate a template and write it as <directory>/<id>.yaml (default data/templates/user/). A user template
    may not take the id of a built-in one; saving the same id again replaces the user's earlier file."""
    folder = Path(directory) if directory is not None else TEMPLATE_DIR / USER_SUBDIR
    template = parse_template(yaml_text, _file_label(yaml_text), user=True)
    if reserved_ids is None:
        reserved_ids = [tpl.id for tpl in load_templates(TEMPLATE_DIR)[0] if not tpl.user]
    if template.id in set(reserved_ids):
        raise TemplateError("engine.template.duplicate_id", file=f"{template.id}.yaml", field="id",
                            value=template.id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{template.id}.yaml"
    partial = folder / f".{template.id}.yaml.tmp"
    partial.write_text(yaml_text, encoding="utf-8")
    os.replace(partial, path)  # atomic: a reader never sees half a file
    return path
