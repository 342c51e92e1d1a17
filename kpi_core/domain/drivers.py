"""Driver-tree engine: KGI formulas over KPI keys, and the maths done on them.

A formula such as ``meetings * win_rate * avg_deal`` is parsed with Python's ``ast`` into a tiny tree of numbers,
names, ``+ - * /`` and unary minus; anything else is refused with a catalogue key. The tree is walked by hand:
nothing is ever compiled or evaluated by Python itself.

On that tree this module offers:
- evaluation (KPI targets -> implied KGI, and the over/under-plan against the KGI target);
- goal seek (`solve`, `reverse_calculate`): the value one driver needs for the KGI target;
- sensitivity: +1 % / +10 % on each driver, ranked by effect;
- variance attribution: actual minus planned KGI split into driver contributions that add up to the total;
- aggregation of a monthly series by its `Aggregation` (the one place where YTD and annual values are computed).

Convention (shared with the whole app): the KGI formula holds per MONTH. A SUM KPI's monthly value is its annual
target / months; a RATIO/MEAN/LAST KPI's monthly value is its annual target itself. A SUM KGI's year is the sum of
its months; any other KGI's year equals its month.
"""
from __future__ import annotations

import ast
import itertools
import math
import operator
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from kpi_core.domain.model import KGI, KPI, Aggregation
from kpi_core.domain.units import is_rate
from kpi_core.errors import WorkbenchError

MAX_FORMULA_LENGTH = 500
MAX_DEPTH = 60
SHAPLEY_MAX_DRIVERS = 10  # 2**10 evaluations; beyond that the sequential split is used
RELATIVE_TOLERANCE = 1e-9


class FormulaError(WorkbenchError):
    """A formula that cannot be parsed, evaluated or solved. `key` and `values` feed the catalogue."""


class SolveError(FormulaError):
    """No value (or no single value) of the unknown reaches the target."""


# ---------------------------------------------------------------- the tree
@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * /
    left: Node
    right: Node


Node = Num | Var | Neg | BinOp

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_REFUSED_OPERATORS = {ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<",
                      ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&"}
_REFUSED_NODES: tuple[tuple[type, str], ...] = (
    (ast.Call, "engine.formula.call"),
    (ast.Attribute, "engine.formula.attribute"),
    (ast.Subscript, "engine.formula.subscript"),
    (ast.Compare, "engine.formula.comparison"),
    (ast.BoolOp, "engine.formula.comparison"),
    (ast.Lambda, "engine.formula.lambda"),
    (ast.JoinedStr, "engine.formula.string"),
)
# Typographic operators people type in Japanese documents; NFKC already maps the full-width ASCII ones.
_TYPOGRAPHIC = str.maketrans({"×": "*", "÷": "/", "−": "-"})


@dataclass(frozen=True)
class Formula:
    """A parsed driver formula. `names` are the driver keys in order of first appearance."""

    text: str
    tree: Node
    names: tuple[str, ...]

    def evaluate(self, values: Mapping[str, float]) -> float:
        """The formula's value; a missing driver, a division by zero or an overflow raise FormulaError."""
        return _finite(_evaluate(self.tree, values))

    def __str__(self) -> str:
        return self.text


def parse_formula(text: str, allowed: Sequence[str] | set[str] | None = None) -> Formula:
    """Parse `text` into a Formula; with `allowed`, every name must be one of them."""
    raw = "" if text is None else str(text)
    if not raw.strip():
        raise FormulaError("engine.formula.empty")
    if len(raw) > MAX_FORMULA_LENGTH:
        raise FormulaError("engine.formula.too_long", length=len(raw), limit=MAX_FORMULA_LENGTH)
    normalised = unicodedata.normalize("NFKC", raw).translate(_TYPOGRAPHIC).strip()
    try:
        expression = ast.parse(normalised, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise FormulaError("engine.formula.syntax", detail=getattr(exc, "msg", None) or str(exc)) from None
    tree = _convert(expression.body, 0)
    names = _names(tree)
    if allowed is not None:
        known = set(allowed)
        unknown = [name for name in names if name not in known]
        if unknown:
            raise FormulaError("engine.formula.unknown_name", name=unknown[0],
                               allowed=", ".join(sorted(allowed)))
    return Formula(normalised, tree, names)


def _as_formula(formula: Formula | str) -> Formula:
    return formula if isinstance(formula, Formula) else parse_formula(formula)


def _convert(node: ast.AST, depth: int) -> Node:
    """Turn an ast node into our tree, refusing everything outside the whitelist."""
    if depth > MAX_DEPTH:
        raise FormulaError("engine.formula.too_deep", limit=MAX_DEPTH)
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise FormulaError("engine.formula.bad_name", name=node.id)
        return Var(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _convert(node.operand, depth + 1)
        return Neg(operand) if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        op = _OPERATORS.get(type(node.op))
        if op is None:
            symbol = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            key = "engine.formula.power" if isinstance(node.op, ast.Pow) else "engine.formula.operator"
            raise FormulaError(key, operator=symbol)
        return BinOp(op, _convert(node.left, depth + 1), _convert(node.right, depth + 1))
    for kind, key in _REFUSED_NODES:
        if isinstance(node, kind):
            raise FormulaError(key)
    raise FormulaError("engine.formula.unsupported", element=type(node).__name__)


def _number(value: object) -> Num:
    if isinstance(value, (str, bytes)):
        raise FormulaError("engine.formula.string")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormulaError("engine.formula.unsupported", element=repr(value)[:20])
    try:
        number = float(value)
    except OverflowError:
        raise FormulaError("engine.formula.not_finite") from None
    if not math.isfinite(number):
        raise FormulaError("engine.formula.not_finite")
    return Num(number)


def _names(node: Node) -> tuple[str, ...]:
    seen: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Var):
            seen.setdefault(n.name)
        elif isinstance(n, Neg):
            walk(n.operand)
        elif isinstance(n, BinOp):
            walk(n.left)
            walk(n.right)
    walk(node)
    return tuple(seen)


def _count(node: Node, name: str) -> int:
    """How many times `name` occurs in the tree."""
    if isinstance(node, Var):
        return int(node.name == name)
    if isinstance(node, Neg):
        return _count(node.operand, name)
    if isinstance(node, BinOp):
        return _count(node.left, name) + _count(node.right, name)
    return 0


# ---------------------------------------------------------------- evaluation
def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise FormulaError("engine.formula.not_finite")
    return value


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def _fold(node: Node, name_value: Callable[[str], Any], divide: Callable[[Any, Any], Any]) -> Any:
    """The value of the formula tree, names read by `name_value`, `/` done by `divide`: scalars and arrays alike."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        return name_value(node.name)
    if isinstance(node, Neg):
        return -_fold(node.operand, name_value, divide)
    left, right = _fold(node.left, name_value, divide), _fold(node.right, name_value, divide)
    return _ARITHMETIC[node.op](left, right) if node.op in _ARITHMETIC else divide(left, right)


def _scalar_divide(left: float, right: float) -> float:
    if right == 0:
        raise FormulaError("engine.formula.division_by_zero")
    return left / right


def _evaluate(node: Node, values: Mapping[str, float]) -> float:
    def value_of(name: str) -> float:
        value = values.get(name)
        if value is None or not _is_number(value):
            raise FormulaError("engine.formula.missing_value", name=name)
        return float(value)

    return _fold(node, value_of, _scalar_divide)


def _is_number(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def evaluate(formula: Formula | str, values: Mapping[str, float]) -> float:
    return _as_formula(formula).evaluate(values)


def to_monthly(annual: float, aggregation: Aggregation | str, months: int) -> float:
    """A SUM metric's month is the year / months; a rate, mean or level is the same every month."""
    return annual / months if Aggregation(aggregation) is Aggregation.SUM else annual


def to_annual(monthly: float, aggregation: Aggregation | str, months: int) -> float:
    return monthly * months if Aggregation(aggregation) is Aggregation.SUM else monthly


def monthly_driver_values(kpis: Sequence[KPI], months: int) -> dict[str, float]:
    """Each KPI's monthly value implied by its annual target (KPIs without a target are left out)."""
    return {k.key: to_monthly(k.annual_target, k.aggregation, months)
            for k in kpis if k.annual_target is not None}


@dataclass(frozen=True)
class ImpliedKGI:
    """What the KPI targets add up to, against the KGI target."""

    monthly: float
    annual: float
    target: float | None
    difference: float | None  # annual - target
    over_plan: float | None  # annual / target - 1: +0.25 means the KPIs over-plan the KGI by 25 %


def implied_kgi(kgi: KGI, kpis: Sequence[KPI], months: int) -> ImpliedKGI:
    """The KGI implied by the KPI targets through the KGI formula (per month, then per year)."""
    formula = parse_formula(kgi.formula, allowed=[k.key for k in kpis])
    values = monthly_driver_values(kpis, months)
    for name in formula.names:
        if name not in values:
            raise FormulaError("engine.implied.missing_target", name=name)
    monthly = formula.evaluate(values)
    annual = to_annual(monthly, kgi.aggregation, months)
    if kgi.target is None:
        return ImpliedKGI(monthly, annual, None, None, None)
    over = annual / kgi.target - 1 if kgi.target else None
    return ImpliedKGI(monthly, annual, kgi.target, annual - kgi.target, over)


# ---------------------------------------------------------------- goal seek
def solve(formula: Formula | str, target: float, values: Mapping[str, float], unknown: str) -> float:
    """The value of `unknown` for which the formula equals `target`, the other drivers fixed at `values`.

    Closed form when the unknown occurs once (the tree is inverted from the root down); otherwise a bisection on a
    bracket found by scanning outwards from the current value. Raises SolveError when no value exists.
    """
    parsed = _as_formula(formula)
    if unknown not in parsed.names:
        raise SolveError("engine.solve.not_in_formula", name=unknown)
    if not _is_number(target):
        raise SolveError("engine.solve.no_solution", name=unknown)
    known = {k: v for k, v in values.items() if k != unknown}
    missing = [n for n in parsed.names if n != unknown and n not in known]
    if missing:
        raise FormulaError("engine.formula.missing_value", name=missing[0])

    def at(x: float) -> float:
        return parsed.evaluate({**known, unknown: x})

    def reaches(x: float) -> bool:
        return _reaches(at, x, float(target), known)

    if _count(parsed.tree, unknown) == 1:
        x = _invert(parsed.tree, float(target), known, unknown)
        if not reaches(x):
            raise SolveError("engine.solve.no_solution", name=unknown)
        return x
    return _bracket_solve(at, reaches, float(target), values.get(unknown), unknown)


def _invert(node: Node, target: float, known: Mapping[str, float], unknown: str) -> float:
    """Walk from the root to the single occurrence of `unknown`, undoing each operation on the target."""
    holding = _holding(node, unknown)
    while not isinstance(node, Var):
        if isinstance(node, Neg):
            target, node = -target, node.operand
            continue
        if isinstance(node, Num):  # unreachable: the unknown occurs in the tree
            raise SolveError("engine.solve.no_solution", name=unknown)
        in_left = id(node.left) in holding
        try:
            other = _evaluate(node.right if in_left else node.left, known)
        except FormulaError:
            raise SolveError("engine.solve.no_solution", name=unknown) from None
        if node.op == "+":
            target -= other
        elif node.op == "-":
            target = target + other if in_left else other - target
        elif node.op == "*":
            target = _divide(target, other, unknown)
        elif in_left:  # x / other = target
            if other == 0:
                raise SolveError("engine.solve.no_solution", name=unknown)
            target *= other
        else:  # other / x = target
            target = _divide(other, target, unknown)
        node = node.left if in_left else node.right
    return target


def _holding(root: Node, name: str) -> set[int]:
    """Ids of the nodes whose subtree holds `name`, found in one pass (a per-level count made a 50-term sum
    quadratic)."""
    holding: set[int] = set()

    def walk(node: Node) -> bool:
        if isinstance(node, Var):
            found = node.name == name
        elif isinstance(node, Neg):
            found = walk(node.operand)
        elif isinstance(node, BinOp):
            found = walk(node.left) | walk(node.right)
        else:
            found = False
        if found:
            holding.add(id(node))
        return found

    walk(root)
    return holding


def _divide(numerator: float, denominator: float, unknown: str) -> float:
    if denominator == 0:
        key = "engine.solve.indeterminate" if numerator == 0 else "engine.solve.no_solution"
        raise SolveError(key, name=unknown)
    return numerator / denominator


def _scan_points(guess: float | None) -> list[float]:
    """Candidate points on both sides of zero, geometrically spaced around the guess and around 1."""
    anchors = {1.0}
    if guess is not None and _is_number(guess) and guess != 0:
        anchors.add(abs(float(guess)))
    points = {0.0}
    for anchor in anchors:
        for k in range(-60, 61):
            points.update((anchor * 2.0 ** k, -anchor * 2.0 ** k))
    return sorted(points)


def _bracket_solve(at: Callable[[float], float], reaches: Callable[[float], bool], target: float,
                   guess: float | None, unknown: str) -> float:
    """Find sign changes of at(x) - target on a wide scan, then bisect them, nearest the guess first."""
    samples = []
    for x in _scan_points(guess):
        try:
            samples.append((x, at(x) - target))
        except FormulaError:
            continue  # a pole or an overflow: skip the point
    exact = [x for x, g in samples if g == 0]
    centre = float(guess) if guess is not None and _is_number(guess) else 1.0
    if exact:
        return min(exact, key=lambda x: abs(x - centre))
    brackets = [(a, ga, b) for (a, ga), (b, gb) in itertools.pairwise(samples) if (ga < 0) != (gb < 0)]
    brackets.sort(key=lambda br: abs((br[0] + br[2]) / 2 - centre))
    for a, ga, b in brackets:
        x = _bisect(at, target, a, ga, b)
        if x is not None and reaches(x):  # a sign change across a pole is not a root
            return x
    raise SolveError("engine.solve.no_solution", name=unknown)


def _bisect(at: Callable[[float], float], target: float, a: float, ga: float, b: float) -> float | None:
    """Halve [a, b] until the floats run out; returns the end nearer the target."""
    gb = at(b) - target
    for _ in range(2000):
        mid = a + (b - a) / 2
        if mid in (a, b):
            break
        try:
            gm = at(mid) - target
        except FormulaError:
            return None
        if gm == 0:
            return mid
        if (gm < 0) == (ga < 0):
            a, ga = mid, gm
        else:
            b, gb = mid, gm
    return a if abs(ga) <= abs(gb) else b


def _reaches(at: Callable[[float], float], x: float, target: float, known: Mapping[str, float]) -> bool:
    """Does the formula at x give the target, to a relative tolerance on the scale of the numbers involved?"""
    try:
        reached = at(x)
    except FormulaError:
        return False
    scale = max([abs(target), abs(x)] + [abs(float(v)) for v in known.values() if _is_number(v)])
    return abs(reached - target) <= RELATIVE_TOLERANCE * max(scale, 1e-300)


@dataclass(frozen=True)
class ReverseResult:
    """The value a KPI needs for the KGI target, the other KPIs fixed at their targets."""

    key: str
    monthly: float | None
    annual: float | None
    current_annual: float | None  # the KPI's present annual target, for comparison
    valid: bool
    message_key: str = ""
    message_values: dict[str, object] = field(default_factory=dict)


def reverse_calculate(kgi: KGI, kpis: Sequence[KPI], unknown_key: str, months: int) -> ReverseResult:
    """Goal seek on the model: which value of `unknown_key` reproduces the KGI target, per month and per year."""
    kpi = next((k for k in kpis if k.key == unknown_key), None)
    current = kpi.annual_target if kpi else None

    def invalid(key: str, **values: object) -> ReverseResult:
        return ReverseResult(unknown_key, None, None, current, False, key, {"name": unknown_key, **values})

    if kpi is None:
        return invalid("engine.reverse.unknown_kpi")
    if kgi.target is None:
        return invalid("engine.reverse.no_target")
    try:
        formula = parse_formula(kgi.formula, allowed=[k.key for k in kpis])
        values = monthly_driver_values([k for k in kpis if k.key != unknown_key], months)
        monthly = solve(formula, to_monthly(kgi.target, kgi.aggregation, months), values, unknown_key)
    except FormulaError as exc:
        return invalid(exc.key, **exc.values)
    annual = to_annual(monthly, kpi.aggregation, months)
    problem = _implausible(kpi, monthly)
    if problem:
        return ReverseResult(unknown_key, monthly, annual, current, False, problem,
                             {"name": unknown_key, "value": monthly})
    return ReverseResult(unknown_key, monthly, annual, current, True)


def _implausible(kpi: KPI, value: float) -> str:
    """The catalogue key of the reason a required value cannot be real, or ''."""
    if is_rate(kpi.unit) and not 0 <= value <= 1:
        return "engine.reverse.rate_out_of_range"
    if value < 0:
        return "engine.reverse.negative"
    return ""


# ---------------------------------------------------------------- sensitivity
@dataclass(frozen=True)
class Effect:
    step: float  # 0.01 = the driver raised by 1 %
    kgi: float  # the KGI after the change
    absolute: float  # kgi - base
    relative: float | None  # absolute / base (None when the base is 0)


@dataclass(frozen=True)
class Sensitivity:
    key: str
    value: float
    effects: tuple[Effect, ...]
    in_denominator: bool  # the driver divides: raising it lowers the KGI
    rank: int  # 1 = the lever that moves the KGI most

    @property
    def negative(self) -> bool:
        return self.effects[-1].absolute < 0


def sensitivity(formula: Formula | str, values: Mapping[str, float],
                steps: Sequence[float] = (0.01, 0.10)) -> list[Sensitivity]:
    """Raise each driver by each step in turn and measure the KGI; ranked by the effect of the last step."""
    parsed = _as_formula(formula)
    if not steps:
        raise FormulaError("engine.sensitivity.no_steps")
    base = parsed.evaluate(values)
    denominators = _denominator_names(parsed.tree)
    rows = []
    for name in parsed.names:
        effects = []
        for step in steps:
            changed = parsed.evaluate({**values, name: float(values[name]) * (1 + step)})
            effects.append(Effect(step, changed, changed - base, (changed - base) / base if base else None))
        rows.append((name, tuple(effects)))
    order = sorted(range(len(rows)), key=lambda i: -abs(rows[i][1][-1].absolute))
    ranked = []
    for rank, index in enumerate(order, start=1):
        name, effects = rows[index]
        ranked.append(Sensitivity(name, float(values[name]), effects, name in denominators, rank))
    return ranked


def _denominator_names(node: Node, under_divisor: bool = False) -> set[str]:
    if isinstance(node, Var):
        return {node.name} if under_divisor else set()
    if isinstance(node, Neg):
        return _denominator_names(node.operand, under_divisor)
    if isinstance(node, BinOp):
        right_under = under_divisor or node.op == "/"
        return _denominator_names(node.left, under_divisor) | _denominator_names(node.right, right_under)
    return set()


# ---------------------------------------------------------------- variance attribution
@dataclass(frozen=True)
class Attribution:
    method: str  # "lmdi", "difference", "shapley" or "sequential"
    planned: float
    actual: float
    contributions: dict[str, float]

    @property
    def total(self) -> float:
        return self.actual - self.planned


def variance_breakdown(formula: Formula | str, planned: Mapping[str, float],
                       actual: Mapping[str, float]) -> Attribution:
    """The attribution and the method used, chosen by the shape of the formula:

    - a pure product/quotient of positive drivers: log-mean Divisia (LMDI-I). With Y = c * prod(x_i ** e_i),
      ln(Y1/Y0) = sum(e_i ln(x1_i/x0_i)), so weighting each log-change by L = (Y1-Y0)/ln(Y1/Y0) splits the total
      exactly and symmetrically, with no residual (unlike a "change one driver at a time" split);
    - a pure sum/difference (constant multipliers allowed): the direct difference of each driver, which is exact
      for a linear formula;
    - anything else (mixed trees, zero or negative values): Shapley values over the drivers, i.e. each driver's
      marginal effect averaged over every order of change, which also sums exactly; with more than
      SHAPLEY_MAX_DRIVERS drivers, a sequential split in order of appearance (telescoping, so still exact).
    """
    parsed = _as_formula(formula)
    y0, y1 = parsed.evaluate(planned), parsed.evaluate(actual)
    names = parsed.names
    exponents = _exponents(parsed.tree)
    if exponents is not None and y0 != 0 and all(float(planned[n]) > 0 and float(actual[n]) > 0 for n in names):
        return Attribution("lmdi", y0, y1, _lmdi(exponents, names, planned, actual, y0, y1))
    if _is_linear(parsed.tree):
        return Attribution("difference", y0, y1, {
            n: parsed.evaluate({**planned, n: actual[n]}) - y0 for n in names})
    if len(names) <= SHAPLEY_MAX_DRIVERS:
        try:
            return Attribution("shapley", y0, y1, _shapley(parsed, names, planned, actual))
        except FormulaError:
            pass  # some mix of planned and actual values is undefined: the sequential path may still work
    return Attribution("sequential", y0, y1, _sequential(parsed, names, planned, actual))


def _exponents(node: Node) -> dict[str, int] | None:
    """Net exponent of each name when the tree is a product/quotient of names and constants, else None."""
    if isinstance(node, Var):
        return {node.name: 1}
    if isinstance(node, Num):
        return {}
    if isinstance(node, Neg):
        return _exponents(node.operand)
    if node.op not in "*/":
        return None
    left, right = _exponents(node.left), _exponents(node.right)
    if left is None or right is None:
        return None
    sign = 1 if node.op == "*" else -1
    merged = dict(left)
    for name, power in right.items():
        merged[name] = merged.get(name, 0) + sign * power
    return merged


def _lmdi(exponents: Mapping[str, int], names: Sequence[str], planned: Mapping[str, float],
          actual: Mapping[str, float], y0: float, y1: float) -> dict[str, float]:
    logs = {n: exponents.get(n, 0) * math.log(float(actual[n]) / float(planned[n])) for n in names}
    log_total = math.fsum(logs.values())
    # The log-mean weight; when the KGI did not move, its limit is the KGI itself.
    weight = (y1 - y0) / log_total if abs(log_total) > 1e-15 else y0
    return {n: weight * logs[n] for n in names}


def _is_linear(node: Node) -> bool:
    """Sums and differences of names, with constant factors and constant divisors only."""
    if isinstance(node, (Num, Var)):
        return True
    if isinstance(node, Neg):
        return _is_linear(node.operand)
    if node.op in "+-":
        return _is_linear(node.left) and _is_linear(node.right)
    constant_right = not _names(node.right)
    if node.op == "/":
        return constant_right and _is_linear(node.left)
    return (constant_right and _is_linear(node.left)) or (not _names(node.left) and _is_linear(node.right))


def _shapley(parsed: Formula, names: Sequence[str], planned: Mapping[str, float],
             actual: Mapping[str, float]) -> dict[str, float]:
    n = len(names)
    value = {}
    for mask in range(1 << n):
        mixed = dict(planned)
        mixed.update({names[i]: actual[names[i]] for i in range(n) if mask >> i & 1})
        value[mask] = parsed.evaluate(mixed)
    weight = [math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n) for size in range(n)]
    shares = {}
    for i, name in enumerate(names):
        terms = [weight[(mask).bit_count()] * (value[mask | 1 << i] - value[mask])
                 for mask in range(1 << n) if not mask >> i & 1]
        shares[name] = math.fsum(terms)
    return shares


def _sequential(parsed: Formula, names: Sequence[str], planned: Mapping[str, float],
                actual: Mapping[str, float]) -> dict[str, float]:
    shares, current = {}, dict(planned)
    previous = parsed.evaluate(current)
    for name in names:
        current[name] = actual[name]
        try:
            now = parsed.evaluate(current)
        except FormulaError:
            raise FormulaError("engine.attribution.undefined", name=name) from None
        shares[name], previous = now - previous, now
    return shares


# ---------------------------------------------------------------- aggregation over months
def aggregate(values_by_month: Mapping[date, float | None], aggregation: Aggregation | str,
              weights_by_month: Mapping[date, float | None] | None = None) -> float | None:
    """One figure for a series of months: SUM sums, MEAN averages, LAST takes the latest month with data,
    RATIO is the ratio of sums sum(v*w)/sum(w) over the months that have both a value and a weight (the mean when
    there are no weights). Blank/NaN months are ignored; no data at all gives None."""
    present = {m: float(v) for m, v in values_by_month.items() if _is_number(v)}
    if not present:
        return None
    kind = Aggregation(aggregation)
    if kind is Aggregation.SUM:
        return math.fsum(present.values())
    if kind is Aggregation.LAST:
        return present[max(present)]
    if kind is Aggregation.RATIO and weights_by_month is not None:
        pairs = [(v, float(weights_by_month[m])) for m, v in present.items()
                 if m in weights_by_month and _is_number(weights_by_month[m])]
        total_weight = math.fsum(w for _, w in pairs)
        if pairs and total_weight != 0:
            return math.fsum(v * w for v, w in pairs) / total_weight
    return math.fsum(present.values()) / len(present)


def weight_series(weight_formula: str, series: Mapping[str, Mapping[date, float]]) -> dict[date, float]:
    """A RATIO KPI's weight per month (e.g. 'meetings * win_rate' = wins), for the months where it is defined."""
    if not weight_formula or not weight_formula.strip():
        return {}
    return evaluate_by_month(parse_formula(weight_formula), series)


def evaluate_by_month(formula: Formula | str, series: Mapping[str, Mapping[date, float]]) -> dict[date, float]:
    """The formula month by month over metric series ({key: {month: value}}), for the months where every driver has
    a finite value and the result is finite (a division by zero leaves the month out). All months at once, as
    arrays: month-by-month evaluation made 60 months of a 50-driver formula cost tens of milliseconds."""
    parsed = _as_formula(formula)
    if not parsed.names:
        return {}
    months = sorted(set.intersection(*(set(series.get(n, {})) for n in parsed.names)))
    if not months:
        return {}
    columns = {n: np.array([_array_value(series[n][m]) for m in months], dtype=float) for n in parsed.names}
    with np.errstate(all="ignore"):
        result = np.broadcast_to(_evaluate_array(parsed.tree, columns), (len(months),))
        defined = np.isfinite(result) & np.logical_and.reduce([np.isfinite(c) for c in columns.values()])
    return {month: float(value) for month, value, ok in zip(months, result, defined, strict=True) if ok}


def _array_value(value: object) -> float:
    return float(value) if _is_number(value) else math.nan


def _evaluate_array(node: Node, columns: Mapping[str, np.ndarray]) -> np.ndarray | float:
    """Month by month at once; a division by zero gives NaN (no value that month) rather than an error."""
    return _fold(node, columns.__getitem__,
                 lambda left, right: np.where(np.asarray(right) == 0, math.nan, np.divide(left, right)))
