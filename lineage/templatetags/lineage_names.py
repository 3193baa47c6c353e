"""Names from lineage events are anybody's text: shown with their invisible characters made visible."""

from __future__ import annotations

import unicodedata

from django import template

register = template.Library()

# Kept as they are: they are what they look like.
PLAIN = {" "}


@register.filter
def visible_controls(value: object) -> str:
    """``value`` with control and format characters (NUL, CR, LF, the right-to-left overrides...) written as
    ``\\u202e`` escapes, so that a name cannot hide or reorder what is shown after it. Autoescaping still
    applies to the result."""
    text = "" if value is None else str(value)
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") and char not in PLAIN else char
        for char in text
    )
