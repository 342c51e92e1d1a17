"""One error base: every failure a user can meet is a WorkbenchError with a catalogue key and values."""
from __future__ import annotations

import pytest

from kpi_core import i18n
from kpi_core.adapters.plan_file import PlanFileError
from kpi_core.adapters.store import DatabaseLocked, NotFound, StoreError, VersionConflict
from kpi_core.adapters.templates import TemplateError
from kpi_core.cli import CliError
from kpi_core.domain.drivers import FormulaError, SolveError
from kpi_core.domain.phasing import PhasingError
from kpi_core.domain.plan_rules import PlanInputError
from kpi_core.domain.report import ReportError
from kpi_core.domain.tracking import EntryError
from kpi_core.domain.workshop import WorkshopError
from kpi_core.errors import WorkbenchError
from kpi_core.ingest import IngestError

CLASSES = [StoreError, VersionConflict, DatabaseLocked, NotFound, TemplateError, CliError, FormulaError, SolveError,
           PhasingError, PlanInputError, EntryError, IngestError, WorkshopError, ReportError, PlanFileError]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_derives_from_the_one_base_with_one_constructor(cls):
    error = cls("check.not_a_number", value="abc")
    assert isinstance(error, WorkbenchError)
    assert (error.key, error.values) == ("check.not_a_number", {"value": "abc"})
    assert error.message("en") == "“abc” is not a number."


def test_store_errors_carry_their_own_default_key():
    assert NotFound(plan_id=3).message("en") == i18n.t("store.not_found", "en")
    assert VersionConflict(expected=1, current=2).key == "store.version_conflict"
    locked = DatabaseLocked(path="/x.duckdb", pid="42")
    assert "/x.duckdb" in locked.message("ja") and "42" in locked.message("ja")


def test_a_nested_reason_is_translated_too():
    error = WorkbenchError("ingest.mapping.bad_formula", metric="m", formula="a / b",
                           reason_key="engine.formula.unknown_name", reason_values={"name": "b", "known": "a"})
    for lang in i18n.LANGUAGES:
        reason = i18n.t("engine.formula.unknown_name", lang, name="b", known="a")
        assert reason in error.message(lang)


def test_the_engine_message_of_a_damaged_database_is_not_the_users_message():
    error = StoreError(detail="IO Error: something low level")
    assert error.message("en") == i18n.t("store.error", "en")
