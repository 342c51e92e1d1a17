"""Reading what an AppTest run drew, for assertions on the text a user sees."""
from __future__ import annotations

TEXT_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success")


def rendered_text(at, kinds: tuple[str, ...] = TEXT_ELEMENTS) -> str:
    """Every text element of the given kinds, one per line."""
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))
