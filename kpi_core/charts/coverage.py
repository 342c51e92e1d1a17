"""The gap-coverage waterfall: from the current value, each CSF's expected contribution, to the KGI target."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt
import pandas as pd

from kpi_core.charts.axes import figure_axis
from kpi_core.domain.units import one_line

WATERFALL_COLOURS = {
    "current": "#64748b",
    "csf": "#3b82f6",
    "uncovered": "#dc2626",
    "over": "#f59e0b",
    "target": "#16a34a",
}
MAX_AXIS_LABEL = 24


@dataclass(frozen=True)
class WaterfallStep:
    label: str
    kind: str  # one of WATERFALL_COLOURS
    start: float
    end: float
    text: str  # the formatted amount printed on the bar


def waterfall_steps(current: float, target: float, contributions: Sequence[tuple[str, float, str]],
                    labels: dict[str, str], value_texts: dict[str, str]) -> list[WaterfallStep]:
    """From the current value through each primary CSF's contribution to the target.

    `contributions` are (name, amount, formatted amount); amounts are magnitudes that move towards the target
    (down when the target is below the current value). The remainder is shown as 'uncovered' or, when the CSFs
    promise more than the gap, as 'over' beyond the target. `labels` holds current/target/uncovered/over titles.
    """
    sign = -1.0 if target < current else 1.0
    steps = [WaterfallStep(labels["current"], "current", 0.0, current, value_texts["current"])]
    level = current
    for index, (name, amount, text) in enumerate(contributions, start=1):
        end = level + sign * amount
        steps.append(WaterfallStep(f"{index}. {one_line(name, MAX_AXIS_LABEL)}", "csf", level, end, text))
        level = end
    remainder = (target - level) * sign
    if remainder > 0:
        steps.append(WaterfallStep(labels["uncovered"], "uncovered", level, target, value_texts["uncovered"]))
    elif remainder < 0:
        steps.append(WaterfallStep(labels["over"], "over", target, level, value_texts["over"]))
    steps.append(WaterfallStep(labels["target"], "target", 0.0, target, value_texts["target"]))
    return steps


def _domain(steps: Sequence[WaterfallStep]) -> list[float]:
    """A y range that starts near the moving part so that the CSF steps are readable (bars are clipped)."""
    moving = [v for s in steps if s.kind not in ("current", "target") for v in (s.start, s.end)]
    levels = moving + [s.end for s in steps if s.kind in ("current", "target")]
    low, high = min(levels), max(levels)
    spread = (high - low) or abs(high) or 1.0
    floor = max(0.0, low - spread * 0.6) if low >= 0 else low - spread * 0.6
    return [floor, high + spread * 0.15]


def coverage_waterfall(steps: Sequence[WaterfallStep], kind_titles: dict[str, str], unit: str = "",
                       lang: str = "en") -> alt.LayerChart:
    """The waterfall of `waterfall_steps`; colours by kind, the formatted amount on each bar."""
    frame = pd.DataFrame([{"step": s.label, "kind": s.kind, "kind_title": kind_titles.get(s.kind, s.kind),
                           "low": min(s.start, s.end), "high": max(s.start, s.end), "text": s.text}
                          for s in steps])
    order = [s.label for s in steps]
    kinds = [k for k in WATERFALL_COLOURS if k in set(frame["kind"])]
    base = alt.Chart(frame).encode(
        x=alt.X("step:N", sort=order, title=None,
                axis=alt.Axis(labelAngle=-20, labelFontSize=14, labelLimit=220)),
    )
    bars = base.mark_bar(clip=True, cornerRadius=4, size=56).encode(
        y=alt.Y("low:Q", title=None, scale=alt.Scale(domain=_domain(steps), zero=False),
                axis=figure_axis(unit, lang, labelFontSize=13)),
        y2="high:Q",
        color=alt.Color("kind_title:N", title=None,
                        scale=alt.Scale(domain=[kind_titles.get(k, k) for k in kinds],
                                        range=[WATERFALL_COLOURS[k] for k in kinds]),
                        legend=alt.Legend(orient="top", labelFontSize=13)),
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("text:N")],
    )
    text = base.mark_text(dy=-10, fontSize=15, fontWeight="bold").encode(y="high:Q", text="text:N")
    return alt.layer(bars, text).properties(height=380)
