"""Charts and read models of the current plan, computed once per data version of the plan (see
kpi_core.services.read_models): a widget click reruns the page without reading the whole plan again or rebuilding
and validating its charts.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import altair as alt
import streamlit as st

# Streamlit's own conversion of an Altair chart (its datasets as Arrow, the theme it draws with): running it once per
# data version and handing the result to st.vega_lite_chart draws exactly what st.altair_chart draws.
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

from kpi_core.services.read_models import MEMO, plan_key
from pages.common import full_digits, lang


def chart(ctx: Any, name: str, build: Callable[[str, bool], alt.TopLevelMixin], *parts: Hashable,
          container: Any = st, **options: Any) -> None:
    """Draw the chart `build(language, full_digits)` makes for the current plan, in the language and digits the
    key holds. `name` and `parts` must tell apart everything else the chart depends on besides the plan's data."""
    language, full = lang(), full_digits()
    key = plan_key(ctx.store, ctx.plan, ctx.version, "chart", name, language, full, *parts)
    spec = MEMO.get(key, lambda: _convert_altair_to_vega_lite_spec(build(language, full)))
    container.vega_lite_chart(spec, **options)  # Streamlit copies the spec before it takes the datasets out
