"""Altair chart builders: pure functions returning alt.Chart."""
