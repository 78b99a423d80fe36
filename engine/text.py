"""What a piece of text a person or a system sends may contain.

Control characters (a line feed in a log line, an escape sequence for a terminal) and the
bidirectional controls (which show a reader other text than the store holds, CVE-2021-42574)
are refused in every free-text field; line breaks and tabs are the one exception, and only
where multi-line prose belongs. ``patient_ref`` must further look pseudonymous: a name typed
into it is refused by ``CARTPATH_PATIENT_REF_PATTERN`` (default: 3-64 letters, digits, ``-``,
``_``, ``.``, with at least one digit).
"""
from __future__ import annotations

import re
import unicodedata

# U+061C, U+200E/F, U+202A-E, U+2066-9: the characters that reorder what a reader sees.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
PROSE_WHITESPACE = frozenset("\n\t")
PATIENT_REF_RULE = "3-64 letters, digits, '-', '_' or '.', with at least one digit"


def text_problem(value: str, *, prose: bool = False) -> str | None:
    """Why ``value`` may not be stored as text, or None. ``prose``: line breaks and tabs are allowed."""
    for char in value:
        if char in BIDI_CONTROLS:
            return f"must not contain the bidirectional control character U+{ord(char):04X}"
        if unicodedata.category(char) == "Cc" and not (prose and char in PROSE_WHITESPACE):
            return f"must not contain the control character U+{ord(char):04X}"
    return None


class PatientRefRule:
    """``patient_ref`` checked at start: ``pattern`` (settings.patient_ref_pattern) must match it whole."""

    def __init__(self, pattern: re.Pattern[str], custom: bool = False):
        self.pattern, self.custom = pattern, custom

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not a pseudonymous patient reference, or None."""
        found = text_problem(value)
        if found is not None:
            return found
        if any(ch.isspace() for ch in value) or not self.pattern.fullmatch(value):
            rule = "CARTPATH_PATIENT_REF_PATTERN" if self.custom else PATIENT_REF_RULE
            return f"must be a pseudonymous reference ({rule}), never a name"
        return None
