"""The one error base: every failure a user can meet carries a catalogue key and the values that fill it.

Raise `SomeError("area.key", name=value)`; a subclass may give a default `key` so `NotFound(plan_id=3)` works too.
The edge (a page, the CLI) shows any of them with `error.message(lang)`; nothing else needs to know the class.
"""
from __future__ import annotations

from typing import Any

from kpi_core.i18n import t


class WorkbenchError(Exception):
    """A failure with a catalogue `key` and `values`; `message(lang)` is the text a user reads."""

    key: str = "common.unexpected"

    def __init__(self, key: str | None = None, **values: Any):
        self.key = key or type(self).key
        self.values = values
        super().__init__(f"{self.key}: {values}" if values else self.key)

    def message(self, lang: str) -> str:
        return render(self.key, self.values, lang)


def render(key: str, values: dict[str, Any], lang: str) -> str:
    """`t(key, lang, **values)`, first translating a nested reason given as reason_key / reason_values."""
    values = dict(values)
    if "reason_key" in values:
        values["reason"] = render(values.pop("reason_key"), values.pop("reason_values", {}) or {}, lang)
    return t(key, lang, **values)
