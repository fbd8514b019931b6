"""String expression operators: ``$concat $toLower $toUpper $strcasecmp $substr*
$strLen* $split $indexOf* $trim $ltrim $rtrim $replaceOne $replaceAll $regexMatch
$regexFind $regexFindAll`` (MongoDB 7.0,
https://www.mongodb.com/docs/manual/reference/operator/aggregation/#string-expression-operators).

Case changes are ASCII-only and ``$substrBytes`` counts UTF-8 bytes, as in MongoDB; regexes
are PCRE patterns run by Python's ``re`` after the rewrite of :mod:`.pcre` (as for ``$regex``).
"""

from __future__ import annotations

import re
from typing import Any

from bson.regex import Regex
from bson.timestamp import Timestamp

from . import dates, numbers
from .errors import StoreError
from .expressions import MISSING, named, nullish, simple, to_string, type_name
from .pcre import REGEX_FLAGS, compile_pcre


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _need_string(value: Any, code: int, message: str) -> str:
    """``value`` if it is a string, else StoreError ``code`` with ``message`` followed by the
    value's type name (an operator's argument check, with MongoDB's wording)."""
    if type(value) is not str:
        raise StoreError(code, f"{message}{type_name(value)}")
    return value


def _coerce_string(name: str, value: Any, code: int = 16007) -> str:
    """The string coercion of ``$toLower``, ``$substr``…: null/missing is ""."""
    if nullish(value):
        return ""
    if type(value) is str:
        return value
    if numbers.is_number(value) or dates.is_date(value) or type(value) is Timestamp:
        if type(value) is Timestamp:
            return f"Timestamp({value.time}, {value.inc})"
        return to_string(value)
    raise StoreError(code, f"can't convert from BSON type {type_name(value)} to String")


@simple("$concat")
def _concat(values: list, collation: Any) -> Any:
    out = []
    for v in values:
        if nullish(v):
            return None
        if type(v) is not str:
            raise StoreError(16702, f"$concat only supports strings, not {type_name(v)}")
        out.append(v)
    return "".join(out)


@simple("$toLower", 1)
def _to_lower(values: list, collation: Any) -> str:
    return _coerce_string("$toLower", values[0]).translate(_ASCII_LOWER)


@simple("$toUpper", 1)
def _to_upper(values: list, collation: Any) -> str:
    return _coerce_string("$toUpper", values[0]).translate(_ASCII_UPPER)


@simple("$strcasecmp", 2)
def _strcasecmp(values: list, collation: Any) -> int:
    a = _coerce_string("$strcasecmp", values[0]).translate(_ASCII_UPPER).encode()
    b = _coerce_string("$strcasecmp", values[1]).translate(_ASCII_UPPER).encode()
    return (a > b) - (a < b)


def _integral_arg(name: str, value: Any, code: int, what: str) -> int:
    if not numbers.is_integral(value):
        raise StoreError(code, f"{name}: {what} must be a numeric type representable as a "
                         f"32-bit integral value, not {type_name(value)}")
    return numbers.as_int(value)


def _substr_bytes(name: str, values: list) -> str:
    s = _coerce_string(name, values[0]).encode()
    start = _integral_arg(name, values[1], 16034, "starting index") \
        if numbers.is_number(values[1]) else _bad_arg(16034, name, values[1])
    length = _integral_arg(name, values[2], 16035, "length") \
        if numbers.is_number(values[2]) else _bad_arg(16035, name, values[2])
    if start < 0 or start >= len(s):
        return ""
    end = len(s) if length < 0 else min(len(s), start + length)

    def continuation(i: int) -> bool:
        return i < len(s) and (s[i] & 0xC0) == 0x80
    if continuation(start):
        raise StoreError(28656, f"{name}:  Invalid range, starting index is a UTF-8 "
                         "continuation byte.")
    if continuation(end):
        raise StoreError(28657, f"{name}:  Invalid range, ending index is in the middle of a "
                         "UTF-8 character.")
    return s[start:end].decode()


def _bad_arg(code: int, name: str, value: Any) -> Any:
    raise StoreError(code, f"{name}: argument must be a numeric type, not {type_name(value)}")


@simple("$substr", 3)
def _substr(values: list, collation: Any) -> str:
    return _substr_bytes("$substrBytes", values)


@simple("$substrBytes", 3)
def _substr_b(values: list, collation: Any) -> str:
    return _substr_bytes("$substrBytes", values)


@simple("$substrCP", 3)
def _substr_cp(values: list, collation: Any) -> str:
    s = _coerce_string("$substrCP", values[0])
    start, count = values[1], values[2]
    if not numbers.is_number(start):
        raise StoreError(34450, f"$substrCP: starting index must be a numeric type (is BSON "
                         f"type {type_name(start)})")
    if not numbers.is_number(count):
        raise StoreError(34452, f"$substrCP: length must be a numeric type (is BSON type "
                         f"{type_name(count)})")
    if not numbers.is_integral(start):
        raise StoreError(34451, "$substrCP: starting index cannot be represented as a 32-bit "
                         "integral value")
    if not numbers.is_integral(count):
        raise StoreError(34453, "$substrCP: length cannot be represented as a 32-bit integral "
                         "value")
    i, n = numbers.as_int(start), numbers.as_int(count)
    if i < 0:
        raise StoreError(34455, "$substrCP: the starting index must be nonnegative integer.")
    if n < 0:
        raise StoreError(34454, "$substrCP: length must be a nonnegative integer.")
    return s[i:i + n]


@simple("$strLenBytes", 1)
def _strlen_bytes(values: list, collation: Any) -> int:
    v = _need_string(values[0], 34473, "$strLenBytes requires a string argument, found: ")
    return len(v.encode())


@simple("$strLenCP", 1)
def _strlen_cp(values: list, collation: Any) -> int:
    return len(_need_string(values[0], 34471, "$strLenCP requires a string argument, found: "))


@simple("$split", 2)
def _split(values: list, collation: Any) -> Any:
    s, sep = values
    if nullish(s) or nullish(sep):
        return None
    _need_string(s, 40085, "$split requires an expression that evaluates to a string as a "
                 "first argument, found: ")
    _need_string(sep, 40086, "$split requires an expression that evaluates to a string as a "
                 "second argument, found: ")
    if sep == "":
        raise StoreError(40087, "$split requires a non-empty separator")
    return s.split(sep)


def _index_of(name: str, values: list, by_bytes: bool) -> Any:
    s, sub = values[0], values[1]
    if nullish(s):
        return None
    _need_string(s, 40091, f"{name} requires a string as the first argument, found: ")
    _need_string(sub, 40092, f"{name} requires a string as the second argument, found: ")
    bounds = []
    for v in values[2:]:
        if not numbers.is_integral(v):
            raise StoreError(40096, f"{name} requires an integral starting index/ending index, "
                             f"found a value of type: {type_name(v)}")
        if numbers.as_int(v) < 0:
            raise StoreError(40097, f"{name} requires a nonnegative start/end index, found: "
                             f"{numbers.as_int(v)}")
        bounds.append(numbers.as_int(v))
    haystack: Any = s.encode() if by_bytes else s
    needle: Any = sub.encode() if by_bytes else sub
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(haystack)
    if start > len(haystack) or start > end:
        return -1
    return haystack.find(needle, start, end) if end - start >= len(needle) else -1


@simple("$indexOfBytes", (2, 4))
def _index_of_bytes(values: list, collation: Any) -> Any:
    return _index_of("$indexOfBytes", values, True)


@simple("$indexOfCP", (2, 4))
def _index_of_cp(values: list, collation: Any) -> Any:
    return _index_of("$indexOfCP", values, False)


_WHITESPACE = "\u0000\u0020\u0009\u000a\u000b\u000c\u000d\u00a0\u1680" \
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
    "\u2028\u2029\u202f\u205f\u3000"


def _trim(name: str, left: bool, right: bool) -> None:
    @named(name, ("input",), ("chars",))
    def run(args: dict, collation: Any) -> Any:
        s, chars = args["input"], args["chars"]
        if nullish(s) or chars is None:
            return None
        _need_string(s, 50699, f"{name} requires its input to be a string, got ")
        if chars is MISSING:
            chars = _WHITESPACE
        else:
            _need_string(chars, 50700, f"{name} requires 'chars' to be a string, got ")
        if left and right:
            return s.strip(chars)
        return s.lstrip(chars) if left else s.rstrip(chars)


_trim("$trim", True, True)
_trim("$ltrim", True, False)
_trim("$rtrim", False, True)


def _replace(name: str, count: int) -> None:
    @named(name, ("input", "find", "replacement"))
    def run(args: dict, collation: Any) -> Any:
        for key in ("input", "find", "replacement"):
            v = args[key]
            if not nullish(v) and type(v) is not str:
                raise StoreError(51746, f"{name} requires that '{key}' be a string, found: "
                                 f"{type_name(v)}")
        if any(nullish(args[k]) for k in ("input", "find", "replacement")):
            return None
        return args["input"].replace(args["find"], args["replacement"], count)


_replace("$replaceOne", 1)
_replace("$replaceAll", -1)


def _compile_regex(name: str, pattern: Any, options: Any) -> re.Pattern[str]:
    flags_text = ""
    if type(pattern) is Regex:
        flags_text = _regex_flag_text(pattern.flags)
        pattern = pattern.pattern
        if not nullish(options) and options != "" and flags_text:
            raise StoreError(51075, f"{name}: found regex option(s) specified in both 'regex' "
                             "and 'option' fields")
    elif type(pattern) is not str:
        raise StoreError(51105, f"{name} needs 'regex' to be of type string or regex")
    if not nullish(options):
        if type(options) is not str:
            raise StoreError(51106, f"{name} needs 'options' to be of type string")
        flags_text += options
    if "\0" in pattern:
        raise StoreError(51109, f"{name}: regular expression cannot contain an embedded null "
                         "byte")
    flags = 0
    for ch in flags_text:
        if ch not in REGEX_FLAGS:
            raise StoreError(51108, f"{name} invalid flag in regex options: {ch}")
        flags |= REGEX_FLAGS[ch]
    try:
        return compile_pcre(pattern, flags)
    except re.error as exc:
        raise StoreError(51111, f"Invalid Regex in {name}: {exc}") from None


def _regex_flag_text(flags: int) -> str:
    text = ""
    for flag, ch in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"),
                     (re.VERBOSE, "x")):
        if flags & flag:
            text += ch
    return text


def _regex_op(name: str, kind: str) -> None:
    @named(name, ("input", "regex"), ("options",))
    def run(args: dict, collation: Any) -> Any:
        s, pattern = args["input"], args["regex"]
        empty = {"match": False, "find": None, "all": []}[kind]
        if nullish(pattern):
            return empty
        rx = _compile_regex(name, pattern, args["options"])
        if nullish(s):
            return empty
        if type(s) is not str:
            raise StoreError(51104, f"{name} needs 'input' to be of type string")
        if kind == "match":
            return rx.search(s) is not None
        if kind == "find":
            m = rx.search(s)
            return None if m is None else _match_doc(m)
        return [_match_doc(m) for m in rx.finditer(s)]


def _match_doc(m: re.Match[str]) -> dict:
    return {"match": m.group(0), "idx": m.start(), "captures": list(m.groups())}


_regex_op("$regexMatch", "match")
_regex_op("$regexFind", "find")
_regex_op("$regexFindAll", "all")
