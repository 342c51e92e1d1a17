"""The demo plan seeded into an empty database, so that a first start shows every screen with real-looking data.

The demo is the sales template's worked example: revenue ¥120,000,000 -> ¥144,000,000 (+20 %), KPIs of 50 meetings
a month, a 25 % win rate and a ¥1,200,000 average deal (which imply ¥180M: the over-plan the app points out), last
year's twelve months as history (summing to exactly ¥120,000,000), and six months of this year in which meetings
and deal size are on track while the win rate is clearly off track, with check-ins on it.
Everything is fixed data: the same `today` always gives the same plan.
"""
from __future__ import annotations

import os
from datetime import date, timedelta

from kpi_core.adapters.templates import find_template, localized
from kpi_core.domain.model import Actual, CheckIn, Plan, PlanStatus, Status, add_months
from kpi_core.domain.phasing import phase_target
from kpi_core.domain.plan_rules import default_fiscal_start
from kpi_core.i18n import normalise_language, t
from kpi_core.services.plans import create_plan_from_template

DEMO_ENV = "KPI_WORKBENCH_DEMO"
DEMO_TEMPLATE = "sales"
HISTORY_REVENUE = 120_000_000

# Last year, month by month from the fiscal start: meetings, wins, and the shape of the average deal (x ¥1M).
HISTORY_MEETINGS = (38, 40, 42, 39, 36, 41, 40, 38, 42, 39, 41, 44)
HISTORY_WINS = (9, 10, 11, 10, 9, 10, 10, 9, 11, 10, 10, 11)
HISTORY_DEAL_SHAPE = (0.98, 1.00, 1.02, 0.99, 0.97, 1.01, 1.00, 0.96, 1.03, 1.00, 0.98, 1.04)

# This year's first six months: meetings and deal size near target, the win rate at 19-20 % against 25 %.
THIS_YEAR_MEETINGS = (47, 51, 50, 52, 50, 51)
THIS_YEAR_WINS = (9, 10, 10, 10, 10, 10)
THIS_YEAR_DEALS = (1_180_000, 1_220_000, 1_200_000, 1_190_000, 1_230_000, 1_210_000)

CHECKIN_MONTHS = (3, 4, 5)  # check-ins on the win rate in the 4th, 5th and 6th month


def demo_enabled() -> bool:
    return os.environ.get(DEMO_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def seed_demo(store, today: date | None = None, lang: str = "ja") -> Plan | None:
    """Create the demo plan when the database has never had a plan (live or deleted); None when skipped."""
    if not demo_enabled() or store.list_plans() or store.deleted_plans():
        return None
    template = find_template(DEMO_TEMPLATE)
    if template is None:  # a broken template file is reported by the gallery; the app still starts
        return None
    lang = normalise_language(lang)
    today = today or date.today()
    owner = localized(next(k.owner for k in template.kpis if k.key == "win_rate"), lang)

    def work() -> Plan:
        plan = create_plan_from_template(store, template, lang, name=t("engine.demo.plan_name", lang),
                                         fiscal_start=default_fiscal_start(today), status=PlanStatus.ACTIVE)
        kgi = store.get_kgi(plan.id)
        kgi.current = float(HISTORY_REVENUE)  # the confirmed current actual of the gap step: last year
        store.save_kgi(kgi, None)
        store.save_actuals(plan.id, history_actuals(plan.fiscal_start) + this_year_actuals(plan.fiscal_start),
                           source="seed")
        for checkin in demo_checkins(plan, owner, today, lang):
            store.save_checkin(checkin)
        return store.get_plan(plan.id)

    return store.atomic(work)  # all of the demo or nothing


def _month_actuals(month: date, meetings: int, wins: int, deal: float, revenue: float) -> list[Actual]:
    return [Actual("revenue", month, revenue), Actual("meetings", month, float(meetings)),
            Actual("win_rate", month, wins / meetings), Actual("avg_deal", month, deal)]


def history_actuals(fiscal_start: date) -> list[Actual]:
    """Last year's twelve months: revenue phased from exactly ¥120,000,000 by the wins x deal-size shape (to the
    ¥10,000), the average deal derived from it to the yen, so revenue = meetings x win rate x average deal
    within one yen per win."""
    weights = [wins * shape for wins, shape in zip(HISTORY_WINS, HISTORY_DEAL_SHAPE, strict=True)]
    revenues = phase_target(HISTORY_REVENUE, 12, "seasonal", weights=weights, precision=-4)
    actuals = []
    for index, (meetings, wins, revenue) in enumerate(zip(HISTORY_MEETINGS, HISTORY_WINS, revenues, strict=True)):
        month = add_months(fiscal_start, index - 12)
        actuals += _month_actuals(month, meetings, wins, float(round(revenue / wins)), revenue)
    return actuals


def this_year_actuals(fiscal_start: date) -> list[Actual]:
    """The plan's first six months: revenue is exactly wins x average deal."""
    actuals = []
    for index, (meetings, wins, deal) in enumerate(zip(THIS_YEAR_MEETINGS, THIS_YEAR_WINS, THIS_YEAR_DEALS,
                                                       strict=True)):
        actuals += _month_actuals(add_months(fiscal_start, index), meetings, wins, float(deal), float(wins * deal))
    return actuals


def demo_checkins(plan: Plan, owner: str, today: date, lang: str) -> list[CheckIn]:
    """Why the win rate missed and what happens next, for three months; the last action is still open."""
    checkins = []
    for number, offset in enumerate(CHECKIN_MONTHS, start=1):
        month = add_months(plan.fiscal_start, offset)
        due = add_months(month, 2) - timedelta(days=1)  # the end of the following month
        last = number == len(CHECKIN_MONTHS)
        if last:
            due = max(due, today + timedelta(days=14))  # keep the open action ahead of the seeding day
        checkins.append(CheckIn(
            plan_id=plan.id, metric_key="win_rate", month=month, status=Status.OFF_TRACK,
            why=t(f"engine.demo.checkin{number}.why", lang), next_action=t(f"engine.demo.checkin{number}.next", lang),
            owner=owner, due=due, result="" if last else t(f"engine.demo.checkin{number}.result", lang)))
    return checkins
