"""The optional shared password: constant-time comparison and a growing, capped delay after failures."""
from __future__ import annotations

from kpi_core.services.access import MAX_DELAY, configured_password, failure_delay, password_matches


def test_password_comparison():
    assert password_matches("sésame 開け", "sésame 開け")
    assert not password_matches("sesame", "sésame")
    assert not password_matches("", "x")


def test_delay_grows_and_is_capped():
    delays = [failure_delay(n) for n in range(8)]
    assert delays[0] == 0 and delays[1] > 0
    assert delays == sorted(delays)
    assert delays[-1] == MAX_DELAY


def test_unset_or_empty_means_open(monkeypatch):
    monkeypatch.delenv("KPI_WORKBENCH_PASSWORD", raising=False)
    assert configured_password() is None
    monkeypatch.setenv("KPI_WORKBENCH_PASSWORD", "")
    assert configured_password() is None
    monkeypatch.setenv("KPI_WORKBENCH_PASSWORD", "pw")
    assert configured_password() == "pw"
