"""Saving a row that someone else may be editing too (a CSF, a KPI, a KPI's monthly targets, a check-in, a review).

A form keeps the version of the row it was drawn from (`base_version`, set when the row is first shown and again
after a reload) and its save passes that version to the use case, so a save based on an older copy is refused by the
store. The refusal is kept in the session and shown above the form (`stale_notice`): theirs / yours for every
difference, and the user chooses: load their values into the form, or save theirs over with their version as the new
base. A row or plan deleted meanwhile is said so, and the typed entries are shown for copying.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from kpi_core.adapters.store import DeletedUnderEdit, StaleEdit
from kpi_core.domain.model import Plan
from kpi_core.domain.plan_rules import markdown_text
from pages.common import add_form_suffix, renew_add_form, t
from pages.frame import PageContext, attempt

MAX_LINES = 8

Line = tuple[str, str, str]  # what differs, theirs, yours (as shown)


@dataclass
class Refusal:
    """A save refused as stale, kept until the user chooses."""

    item: str
    lines: list[Line]
    version: Any  # the base to save over theirs with (their version)
    retry: Callable[[Any], Any] = field(repr=False)  # the same save, given a base version
    success_key: str = "common.saved"
    after: Callable[[Any], None] | None = field(default=None, repr=False)


def _base_key(kind: str, row: object) -> str:
    # No leading underscore: a plan reload after a conflict (frame.reload_plan) forgets it with the widgets.
    return f"base_{kind}_{row}"


def _refusal_key(kind: str, row: object) -> str:
    return f"_refused_{kind}_{row}"


def base_version(kind: str, row: object, version: Any) -> Any:
    """The version of the row as this session's form first showed it (`version` is the one read now)."""
    return st.session_state.setdefault(_base_key(kind, row), version)


def remember(kind: str, row: object, item: object) -> None:
    """Keep the copy an open form was first drawn from: its name heads a conflict, and the form can still be drawn
    (its entries copied) when someone else deletes the row meanwhile (see `deleted_copy`)."""
    st.session_state.setdefault(f"copy_{kind}_{row}", item)


def opened(kind: str, row: object, default: Any = None) -> Any:
    """The copy the open form was first drawn from (see `remember`)."""
    return st.session_state.get(f"copy_{kind}_{row}", default)


def deleted_copy(kind: str, row: object, live: set) -> Any | None:
    """The remembered copy of `row` when it is no longer among the `live` ids: deleted under this user's edit."""
    if row is None or row in live:
        return None
    return st.session_state.get(f"copy_{kind}_{row}")


def keep_typed(kind: str, row: object, name: str, entries: dict[str, str] | None) -> None:
    """What this user has typed into an open form that is not saved yet (None: nothing typed), so that it can be
    shown for copying when someone else deletes the row and the form is gone from the page (see `deleted_typed`)."""
    key = f"typed_{kind}_{row}"
    if entries:
        st.session_state[key] = (name, entries)
    else:
        st.session_state.pop(key, None)


def deleted_typed(kind: str, live: set) -> list[tuple[object, str, dict[str, str]]]:
    """(row, name, entries) of the unsaved entries kept by `keep_typed` whose row is no longer among the `live` ids."""
    prefix = f"typed_{kind}_"
    found = []
    for key, value in list(st.session_state.items()):
        if isinstance(key, str) and key.startswith(prefix):
            row = key[len(prefix):]
            if not any(str(r) == row for r in live):
                found.append((row, *value))
    return found


def show_deleted_typed(kind: str, live: set) -> None:
    """Unsaved entries of rows deleted by someone else: said so, the entries shown to copy, dismissed by the user."""
    for row, name, entries in deleted_typed(kind, live):
        with st.container(border=True):
            st.error(t("store.deleted_under_edit", name=markdown_text(name)))
            st.caption(t("conflict.your_edit"))
            st.code("\n".join(f"{label}: {value}" for label, value in entries.items()), language=None)
            if st.button(t("conflict.dismiss"), key=f"conflict_dismiss_{kind}_{row}"):
                st.session_state.pop(f"typed_{kind}_{row}", None)
                st.rerun()


def form_suffix(ctx: PageContext, kind: str, row: Any | None) -> str:
    """The widget-key suffix of the add form (row None) or of a row's edit form. An edit form is based on the row's
    version when it was first drawn, and keeps that copy; a load of their values draws it afresh."""
    if row is None:
        return ctx.key(add_form_suffix(kind))
    suffix = ctx.key(row_key(kind, row.id))
    base_version(kind, row.id, row.version)
    remember(kind, row.id, row)
    return suffix


def edit_toggle(column: Any, kind: str, row: int, edit_key: str, help: str) -> None:
    """A card's edit button: opens its form (or closes it again), based on the version shown now."""
    if column.button("✏️", key=f"{kind}_edit_{row}", help=help):
        st.session_state[edit_key] = None if st.session_state.get(edit_key) == row else row
        forget(kind, row)
        st.rerun()


def form_saved(kind: str, suffix: str, fields: tuple[str, ...], added: bool, edit_key: str) -> None:
    """After a save: the form's fields forgotten, an add form renewed (it comes back empty), the edit closed."""
    for name in fields:
        st.session_state.pop(f"{kind}_{name}_{suffix}", None)
    if added:
        renew_add_form(kind)
    st.session_state.pop(edit_key, None)
    st.rerun()


def generation(kind: str, row: object) -> int:
    """Part of the form's widget keys: a load of their values gives every widget a new key, so the browser draws
    the fields from the stored values instead of keeping what was typed."""
    return st.session_state.get(f"_generation_{kind}_{row}", 0)


def row_key(kind: str, row: object) -> str:
    """The row's part of its form's widget keys (see `generation`)."""
    drawn = generation(kind, row)
    return f"{row}r{drawn}" if drawn else str(row)


def forget(kind: str, row: object) -> None:
    """After a save, or to load theirs: the next drawing of the form starts from the stored row and its version."""
    for key in (_base_key(kind, row), _refusal_key(kind, row), f"copy_{kind}_{row}", f"typed_{kind}_{row}"):
        st.session_state.pop(key, None)


def load_theirs(kind: str, row: object) -> None:
    forget(kind, row)
    st.session_state[f"_generation_{kind}_{row}"] = generation(kind, row) + 1


def refused(kind: str, row: object) -> bool:
    return _refusal_key(kind, row) in st.session_state


def shown(value: Any) -> str:
    """A value as a conflict line shows it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "—"
    return str(value)


def differences(theirs: object | None, yours: object, labels: dict[str, str],
                formats: dict[str, Callable[[Any], str]] | None = None) -> list[Line]:
    """The fields (named by `labels`: attribute -> label) whose stored value differs from the typed one, each shown
    by its format (default `shown`). `theirs` None: the row is gone, nothing to compare."""
    if theirs is None:
        return []
    formats = formats or {}
    return [(label, formats.get(name, shown)(getattr(theirs, name)), formats.get(name, shown)(getattr(yours, name)))
            for name, label in labels.items() if getattr(theirs, name) != getattr(yours, name)]


def save(kind: str, row: object, plan: Plan, item: str, action: Callable[[Any], Any], *,
         success_key: str = "common.saved", describe: Callable[[StaleEdit], list[Line]] | None = None,
         typed: dict[str, str] | None = None, after: Callable[[Any], None] | None = None) -> Any | None:
    """Run `action(base version)`. Stored: the form forgets its base, a success message follows, `after(result)`
    runs. Stale: the refusal is kept and the page reruns to show it (see `stale_notice`). Deleted meanwhile: said
    so, with `typed` shown for copying. Anything else: the error shown."""
    base = st.session_state.get(_base_key(kind, row))
    outcome: dict[str, Any] = {}

    def call() -> Any:
        try:
            return action(base)
        except (StaleEdit, DeletedUnderEdit) as exc:
            outcome["error"] = exc
            raise

    ok, result = attempt(call, plan, success_key)
    if ok:
        forget(kind, row)
        if after is not None:
            after(result)
        return result
    error = outcome.get("error")
    if isinstance(error, StaleEdit):
        lines = describe(error) if describe else [(c.item, shown(c.theirs), shown(c.yours))
                                                  for c in error.conflicts]
        st.session_state[_refusal_key(kind, row)] = Refusal(item, lines, error.conflicts[0].version, action,
                                                            success_key, after)
        st.rerun()
    if isinstance(error, DeletedUnderEdit) and typed:
        st.caption(t("conflict.your_edit"))
        st.code("\n".join(f"{label}: {value}" for label, value in typed.items() if value), language=None)
    return None


def stale_notice(kind: str, row: object, plan: Plan) -> None:
    """Above the form: what someone else saved against what this user typed, and the two choices."""
    refusal: Refusal | None = st.session_state.get(_refusal_key(kind, row))
    if refusal is None:
        return
    with st.container(border=True, key=f"conflict_{kind}_{row}"):
        st.warning(t("conflict.title", item=refusal.item), icon=":material/sync_problem:")
        st.markdown("\n".join("- " + t("conflict.field", field=markdown_text(label), theirs=markdown_text(theirs),
                                        yours=markdown_text(yours)) for label, theirs, yours in refusal.lines[:MAX_LINES]))
        if len(refusal.lines) > MAX_LINES:
            st.caption(t("conflict.more", n=len(refusal.lines) - MAX_LINES))
        load, keep, _ = st.columns([2, 2, 3])
        if load.button(t("store.load_theirs"), key=f"conflict_load_{kind}_{row}", icon=":material/refresh:"):
            load_theirs(kind, row)
            st.rerun()
        if keep.button(t("conflict.keep_mine"), key=f"conflict_keep_{kind}_{row}", type="primary"):
            st.session_state.pop(_refusal_key(kind, row))
            st.session_state[_base_key(kind, row)] = refusal.version
            save(kind, row, plan, refusal.item, refusal.retry, success_key=refusal.success_key, after=refusal.after)
