"""The ja and en catalogues hold the same keys, and every key the code names exists."""
from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from kpi_core import i18n

ROOT = Path(__file__).resolve().parent.parent
KEY_SHAPE = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_%\u3000-\u9fff]+)+$")


def test_both_languages_have_the_same_keys():
    ja, en = set(i18n.catalogue("ja")), set(i18n.catalogue("en"))
    assert ja == en, f"only ja: {sorted(ja - en)}; only en: {sorted(en - ja)}"
    assert len(ja) > 100


def test_placeholders_match_between_languages():
    formatter = string.Formatter()
    for key, en_text in i18n.catalogue("en").items():
        ja_text = i18n.catalogue("ja")[key]
        en_fields = {f for _, f, _, _ in formatter.parse(en_text) if f}
        ja_fields = {f for _, f, _, _ in formatter.parse(ja_text) if f}
        assert en_fields == ja_fields, key


def _literal_keys() -> set[str]:
    """String literals in the code that look like catalogue keys of a known namespace.

    Pieces of f-strings are prefixes, not keys; the store's audit actions ("kgi.save") are not catalogue keys.
    """
    namespaces = {key.split(".")[0] for key in i18n.catalogue("en")}
    found = set()
    files = [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "kpi_core").rglob("*.py")]
    for path in files:
        if path.name == "store.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in ast.walk(tree):
            if id(node) in in_fstrings:
                continue
            is_key = isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY_SHAPE.match(node.value)
            if is_key and node.value.split(".")[0] in namespaces:
                found.add(node.value)
    return found


def test_every_key_named_in_code_exists():
    keys = set(i18n.catalogue("en"))
    prefixes = {k.rsplit(".", i)[0] for k in keys for i in range(1, k.count(".") + 1)}
    used = _literal_keys()
    assert len(used) > 50
    missing = sorted(k for k in used if k not in keys and k not in prefixes)
    assert not missing, missing


def test_placeholders_are_filled_and_missing_values_do_not_crash():
    assert i18n.t("sidebar.progress", "en", done=2, total=5) == "Setup progress: 2 of 5 steps"
    assert "5" in i18n.t("sidebar.progress", "ja", done=2, total=5)
    assert i18n.t("sidebar.progress", "en") == i18n.catalogue("en")["sidebar.progress"]
    assert i18n.t("no.such.key", "ja") == "no.such.key"


def test_browser_locales_map_to_supported_languages():
    assert i18n.normalise_language("ja-JP") == "ja"
    assert i18n.normalise_language("en_US") == "en"
    assert i18n.normalise_language("fr-FR") == "en"
    assert i18n.normalise_language(None) == i18n.DEFAULT_LANGUAGE
