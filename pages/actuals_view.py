"""What the parts of the Actuals screen share: the page view (the frame's context and the plan's metrics),
metric labels and values, and messages whose values come from files (made inert before they are shown)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from kpi_core import ingest
from kpi_core.domain.plan_rules import markdown_text
from kpi_core.errors import WorkbenchError
from pages.common import fmt, lang
from pages.frame import ContextView


def option_index(options: list, value: Any, default: int = 0) -> int:
    return options.index(value) if value in options else default


@dataclass(frozen=True)
class PageView(ContextView):
    """What this page works with: the frame's context and the plan's metrics {key: (name, unit)}."""

    metrics: dict[str, tuple[str, str]]


def metric_label(view: PageView, key: str) -> str:
    name, _ = view.metrics.get(key, (key, ""))
    return key if name == key else f"{name} ({key})"


def metric_value(view: PageView, key: str, value: float | None) -> str:
    return fmt(value, view.metrics.get(key, (key, ""))[1])


def _inert(values: dict[str, Any]) -> dict[str, Any]:
    """Message values made inert for a markdown box: file text (column names, cells, formulas) is data.
    A nested reason's catalogue key stays as it is."""
    return {k: _inert(v) if isinstance(v, dict) else markdown_text(v) if isinstance(v, str) and k != "reason_key"
            else v for k, v in values.items()}


def message_text(key: str, values: dict[str, Any]) -> str:
    return ingest.render(key, _inert(values), lang())


def error_text(exc: WorkbenchError) -> str:
    return message_text(exc.key, exc.values)


def show_file_error(exc: WorkbenchError) -> None:
    st.error(error_text(exc))
