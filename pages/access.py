"""The password gate in front of every page except the workshop participant view (asked once per session)."""
from __future__ import annotations

import time

import streamlit as st

from kpi_core.services.access import configured_password, failure_delay, password_matches
from pages.common import t

GRANTED_KEY = "_access_granted"
FAILURES_KEY = "_access_failures"


def require_password() -> None:
    """Stop the page with a password form until this session has given the configured password."""
    expected = configured_password()
    if expected is None or st.session_state.get(GRANTED_KEY):
        return
    st.title(t("access.title"))
    st.write(t("access.prompt"))
    with st.form("access"):
        given = st.text_input(t("access.password"), type="password")
        submitted = st.form_submit_button(t("access.submit"), type="primary")
    if submitted:
        if password_matches(given, expected):
            st.session_state[GRANTED_KEY] = True
            st.session_state.pop(FAILURES_KEY, None)
            st.rerun()
        failures = st.session_state.get(FAILURES_KEY, 0) + 1
        st.session_state[FAILURES_KEY] = failures
        time.sleep(failure_delay(failures))
        st.error(t("access.wrong"))
    st.stop()
