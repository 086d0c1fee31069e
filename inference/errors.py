"""The one line an error is reported in: its message's first non-empty line,
else the error's type name (an exception with no message still says what it
was). Every one-line report of a caught error in the project uses it."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
