"""HTML -> PDF through WeasyPrint: paged media CSS (A4 landscape), fonts found by fontconfig and embedded as
subsets (Noto Sans CJK from Debian's fonts-noto-cjk for Japanese), SVG charts kept as vectors."""
from __future__ import annotations

import logging

import weasyprint

# WeasyPrint logs every CSS property it ignores at WARNING; the report's stylesheet is fixed and tested.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


def html_to_pdf(document: str) -> bytes:
    return weasyprint.HTML(string=document).write_pdf()
