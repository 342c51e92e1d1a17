"""Placeholder until the page is written."""
import streamlit as st

from pages.common import t

st.title(t("page.pdca"))
