"""The optional shared password of a deployment (KPI_WORKBENCH_PASSWORD): unset, the app is open as before."""
from __future__ import annotations

import hmac
import os

PASSWORD_ENV = "KPI_WORKBENCH_PASSWORD"
MAX_DELAY = 8.0  # seconds: a guessing loop gets slow, a typo costs a moment


def configured_password() -> str | None:
    return os.environ.get(PASSWORD_ENV) or None


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so the time taken says nothing about how much of the guess was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def failure_delay(failures: int) -> float:
    """Seconds to wait before answering after `failures` wrong attempts in this session (doubling, capped)."""
    return 0.0 if failures <= 0 else min(MAX_DELAY, 0.5 * 2 ** (failures - 1))
