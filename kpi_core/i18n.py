"""Translation catalogue: every user-visible string goes through `t(key, lang, **values)`.

The catalogue is split into one YAML file per area under `locales/<lang>/`, merged at load time, so that
areas of the app can grow their strings independently. ja and en must hold the same keys (tested).
A format spec with a bar chooses a word by a count: "{n} {n:row|rows}" -> "1 row", "3 rows".
"""
from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from kpi_core import safe_yaml

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LOCALE_DIR = Path(__file__).parent / "locales"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """All keys of one language, merged from every file of its folder."""
    merged: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / lang).glob("*.yaml")):
        data = safe_yaml.load(path.read_text(encoding="utf-8")) or {}
        for key, text in _flatten(data).items():
            if key in merged:
                raise ValueError(f"duplicate translation key {key!r} in {path.name}")
            merged[key] = text
    return merged


def _flatten(data: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = str(value)
    return flat


def normalise_language(value: str | None) -> str:
    """Map a browser locale such as 'ja-JP' or 'en_US' to a supported language."""
    if not value:
        return DEFAULT_LANGUAGE
    head = value.replace("_", "-").split("-")[0].lower()
    return head if head in LANGUAGES else "en"


class _Formatter(string.Formatter):
    def format_field(self, value: object, format_spec: str) -> str:
        if "|" in format_spec:
            one, _, other = format_spec.partition("|")
            return one if str(value).strip() in ("1", "1.0", "-1") else other
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()


def t(key: str, lang: str, **values: object) -> str:
    """The text of `key` in `lang`, with `{name}` placeholders filled. A missing key shows the key itself."""
    text = catalogue(normalise_language(lang)).get(key)
    if text is None:
        text = catalogue("en").get(key, key)
    if values:
        try:
            return _FORMATTER.format(text, **values)
        except (KeyError, IndexError, ValueError):
            return text
    return text
