"""MongoDB's regular expressions (PCRE2 with UTF, without UCP) as Python ``re`` patterns.

:func:`pcre_to_python` rewrites the PCRE constructs Python spells differently or lacks, so
that a pattern matches what it matches in mongod. The character classes ``\\d \\w \\s`` and
the word boundaries ``\\b \\B`` are ASCII-only in mongod (it compiles patterns without
PCRE2_UCP: code points above 127 never match ``\\d``, ``\\s`` or ``\\w``) while Python's are
Unicode: they are spelled out as ASCII sets. Case-insensitive matching stays Unicode in both.
``\\h``, ``\\v`` and ``\\R`` are PCRE's Unicode spaces and newlines.
PCRE constructs Python lacks (recursion, ``\\p{..}`` properties, …) make ``re.compile`` fail,
which the callers report as an invalid regex. :func:`compile_pcre` compiles through a
bounded cache shared by ``$regex`` and the regex expression operators.
"""

from __future__ import annotations

import re

#: MongoDB's regex option letters as Python flags (``u``, UTF-8, is always on in Python).
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}
_DIGIT = "0-9"
_WORD = "A-Za-z0-9_"
_SPACE = "\\t\\n\\x0b\\x0c\\r "  # PCRE2's \s: HT, LF, VT, FF, CR and space
# PCRE2's \h and \v are Unicode horizontal and vertical spaces (Python's \v is VT alone).
_HSPACE = "\\t \\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
_VSPACE = "\\n\\x0b\\x0c\\r\\x85\\u2028\\u2029"
_POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": _DIGIT, "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": _SPACE, "blank": " \\t", "xdigit": "0-9A-Fa-f", "word": _WORD, "cntrl": "\\x00-\\x1f\\x7f",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "print": "\\x20-\\x7e", "graph": "\\x21-\\x7e",
}
# Outside a character class.
_ASCII_ESCAPES = {
    "d": f"[{_DIGIT}]", "D": f"[^{_DIGIT}]",
    "w": f"[{_WORD}]", "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]", "S": f"[^{_SPACE}]",
    "b": f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))",
    "B": f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))",
    "h": f"[{_HSPACE}]", "H": f"[^{_HSPACE}]",
    "v": f"[{_VSPACE}]", "V": f"[^{_VSPACE}]",
    "R": "(?:\\r\\n|[\\n\\x0b\\x0c\\r\\x85\\u2028\\u2029])",
}
# Inside a character class (the negated \D \W \S stay Python's: a class cannot hold a
# negated set, and they only differ on non-ASCII characters).
_ASCII_CLASS_ESCAPES = {"d": _DIGIT, "w": _WORD, "s": _SPACE, "h": _HSPACE, "v": _VSPACE}


def pcre_to_python(pattern: str) -> str:
    """Rewrite a PCRE pattern for Python's ``re``.

    ``\\Q…\\E`` quoting, ``\\z`` (Python's ``\\Z``), ``\\Z`` (end or before a final newline),
    ``(?<name>…)``, ``\\k<name>``, POSIX classes such as ``[[:alpha:]]``, the ASCII classes
    ``\\d \\w \\s \\b``, the Unicode spaces ``\\h \\v`` (and their negations) and
    the newline sequence ``\\R``; the rest is the same.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    class_start = -1  # index where the current [...] class's content starts, -1 outside
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            d = pattern[i + 1]
            if d == "Q":
                end = pattern.find("\\E", i + 2)
                end = n if end < 0 else end
                out.append(re.escape(pattern[i + 2:end]))
                i = end + 2
                continue
            if class_start < 0 and d == "k" and i + 2 < n and pattern[i + 2] in "<'{":
                close = pattern.find({"<": ">", "'": "'", "{": "}"}[pattern[i + 2]], i + 3)
                if close > 0:  # \k<name>: a back reference by name
                    out.append(f"(?P={pattern[i + 3:close]})")
                    i = close + 1
                    continue
            if class_start < 0 and d == "z":
                out.append("\\Z")
            elif class_start < 0 and d == "Z":
                out.append("(?=\\n?\\Z)")
            elif class_start < 0 and d in _ASCII_ESCAPES:
                out.append(_ASCII_ESCAPES[d])
            elif class_start >= 0 and d in _ASCII_CLASS_ESCAPES:
                out.append(_ASCII_CLASS_ESCAPES[d])
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if class_start >= 0:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2:end] if end > 0 else ""
                if name in _POSIX_CLASSES:
                    out.append(_POSIX_CLASSES[name])
                    i = end + 2
                    continue
            if c == "]" and i > class_start:
                class_start = -1
            elif c == "[":
                out.append("\\[")  # a literal [ inside a class (Python would warn of a nested set)
                i += 1
                continue
        elif c == "[":
            class_start = i + 1
            if pattern.startswith("^", class_start):
                out.append("[^")
                i += 2
                class_start += 1
                continue
        elif pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


_COMPILED: dict[tuple[str, int], re.Pattern[str]] = {}


def compile_pcre(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``pattern`` (PCRE) rewritten by :func:`pcre_to_python` and compiled with ``flags``,
    from a cache of at most about a thousand patterns; ``re.error`` if Python refuses it."""
    key = (pattern, flags)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = re.compile(pcre_to_python(pattern), flags)
        if len(_COMPILED) > 1000:
            _COMPILED.clear()
        _COMPILED[key] = compiled
    return compiled
