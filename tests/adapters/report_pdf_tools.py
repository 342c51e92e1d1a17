"""Reading a PDF back for tests: its text (pdftotext), page count, embedded fonts and characters no font covers."""
from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

from fontTools.ttLib import TTFont
from pypdf import PdfReader
from pypdf.generic import IndirectObject

_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


def pdf_text(pdf: bytes, tmp: Path) -> str:
    path = tmp / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True,
                          text=True).stdout


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def _resolve(value):
    return value.get_object() if isinstance(value, IndirectObject) else value


def fonts(pdf: bytes) -> dict[str, bool]:
    """Every font used by a page or a form on it: name -> embedded."""
    found: dict[str, bool] = {}

    def visit(resources, seen):
        resources = _resolve(resources) or {}
        for ref in (_resolve(resources.get("/Font")) or {}).values():
            font = _resolve(ref)
            descendants = [_resolve(d) for d in _resolve(font.get("/DescendantFonts", []))] or [font]
            for part in descendants:
                descriptor = _resolve(part.get("/FontDescriptor")) or {}
                found[str(part.get("/BaseFont"))] = any(k in descriptor for k in _FONT_FILES)
        for ref in (_resolve(resources.get("/XObject")) or {}).values():
            form = _resolve(ref)
            if form.get("/Subtype") == "/Form" and id(form) not in seen:
                seen.add(id(form))
                visit(form.get("/Resources"), seen)

    for page in PdfReader(io.BytesIO(pdf)).pages:
        visit(page.get("/Resources"), set())
    return found


def _font_file(base_font: str) -> tuple[str, int]:
    """The system font file a PDF font was subset from: 'ABCDEF+Noto-Sans-CJK-JP-Bold' -> (path, index)."""
    name = base_font.lstrip("/").split("+", 1)[-1]
    style = "Bold" if "Bold" in name else ("Oblique" if "Oblique" in name or "Italic" in name else "Regular")
    family = re.sub(r"-(Bold|Oblique|Italic|Regular)+$", "", name).replace("-", " ")
    found = subprocess.run(["fc-match", "-f", "%{file}|%{index}", f"{family}:style={style}"], capture_output=True,
                           text=True, check=True).stdout
    path, index = found.rsplit("|", 1)
    return path, int(index or 0)


def uncovered_characters(pdf: bytes, text: str) -> set[str]:
    """Characters of the extracted text that none of the PDF's embedded fonts has a glyph for: what would print
    as an empty box (tofu)."""
    covered: set[int] = set()
    for base_font in fonts(pdf):
        path, index = _font_file(base_font)
        covered |= set(TTFont(path, fontNumber=index, lazy=True).getBestCmap())
    return {c for c in text if not c.isspace() and ord(c) not in covered}
