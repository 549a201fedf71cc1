"""Text a submission may put on the leaderboard: no invisible or direction-changing characters,
names in one normal form, and CSV cells that a spreadsheet cannot run as a formula.

Why: a zero-width space makes a second "jsq" that looks like the first; U+202E reverses how the
rest of a line is displayed; a control character breaks the Markdown and CSV outputs; a cell that
starts with ``=`` is executed by spreadsheet programs (CSV formula injection).
"""

from __future__ import annotations

import re
import unicodedata

#: Unicode categories refused anywhere in a submission: controls (Cc), format characters such as
#: zero-width spaces and bidi overrides (Cf), private use (Co), surrogates (Cs), unassigned (Cn),
#: line and paragraph separators (Zl, Zp).
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bad_character(text: str) -> str:
    """'' if ``text`` has only visible characters and ordinary spaces, else a description of the
    first offending one (its code point and name)."""
    if text.isascii():
        hit = _ASCII_CONTROL.search(text)
        return f"control character U+{ord(hit.group()):04X} at position {hit.start()}" if hit else ""
    for pos, ch in enumerate(text):
        cat = unicodedata.category(ch)
        if cat in FORBIDDEN_CATEGORIES:
            name = unicodedata.name(ch, "unnamed")
            return f"invisible or control character U+{ord(ch):04X} ({name}, category {cat}) at position {pos}"
    return ""


def normal_form_problem(text: str) -> str:
    """'' if ``text`` is NFKC-normalised, stripped and non-blank, else what is wrong."""
    if not text.strip():
        return "blank"
    if text != text.strip():
        return "leading or trailing whitespace"
    norm = unicodedata.normalize("NFKC", text)
    if norm != text:
        return f"not in Unicode NFKC form (normalised: {norm!r})"
    return ""


def name_key(name: str) -> str:
    """The identity of an entry name: NFKC, case-folded, so 'JSQ' and 'jsq' are one name."""
    return unicodedata.normalize("NFKC", name).casefold()


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell that no spreadsheet evaluates: text starting with = + - @ or a
    tab/CR is prefixed with an apostrophe (OWASP's advice). Numbers are left as they are."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
