"""Adapters: the app database (store), template files, renderers."""
