"""Text that crosses into results, feedback, files and messages: always writable, always bounded."""
from __future__ import annotations

import os
import re
from typing import IO, Any

_UNWRITABLE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str, controls: bool = True) -> str:
    """``text`` as valid Unicode that UTF-8 can carry: lone surrogates become U+FFFD, and so do control
    characters other than tab and newlines unless ``controls`` is False."""
    text = _UNWRITABLE.sub("\ufffd", text)
    return _CONTROL.sub("\ufffd", text) if controls else text


def clean_tree(value: Any, depth: int = 0) -> Any:
    """``clean_text`` on every string (keys included) of a tree of dicts and lists, as JSON gives them."""
    if isinstance(value, str):
        return clean_text(value)
    if depth > 32:
        return None
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_tree(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_tree(v, depth + 1) for v in value]
    return value


def tail(log: IO[bytes], lines: int = 5, chars: int = 2000, empty: str = "no output") -> str:
    """The last ``lines`` lines of a child process's log file, joined by " | " and cut to ``chars`` characters."""
    end = log.seek(0, os.SEEK_END)
    log.seek(max(0, end - 16 * chars))
    text = log.read().decode(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])[-chars:] or empty
