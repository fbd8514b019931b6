"""MongoDB aggregation expressions: compile an expression once, evaluate it per document.

``compile_expression(expr, collation=None)`` checks the expression (unknown operators,
wrong argument counts, malformed field paths raise :class:`StoreError` before any document
is read, as MongoDB does when it parses a pipeline) and returns a function of a *scope*: a
dict of variables holding at least ``ROOT`` and ``CURRENT`` (the document) and the user's
variables. ``evaluate(expr, doc, variables)`` does both for one document.

Semantics are MongoDB 7.0's (https://www.mongodb.com/docs/manual/reference/operator/aggregation/):

- a field path ``$a.b`` reads ``CURRENT``; through an array it yields the array of the values
  reached in its documents (non-document elements are skipped); numeric components are field
  names, not indexes;
- an absent value is :data:`MISSING`, distinct from ``None`` (BSON null): a missing field is
  left out of an object literal, becomes null inside an array literal, and compares lower
  than null (``{$eq: ["$nope", null]}`` is false);
- ``$$REMOVE`` evaluates to MISSING;
- numbers keep their type and widen by MongoDB's rules (:mod:`store.numbers`);
- comparisons use MongoDB's BSON order (:mod:`store.bsonorder`), with the collation if any.

Operators the store does not implement (``$function``, ``$accumulator``, ``$meta``, …)
raise StoreError NotImplemented; unknown ones raise InvalidPipelineOperator (168).

This module holds the machinery (values, paths, variables, compilation, the operator
registry) and the conditional, boolean and comparison operators; the other operators live in
one module per family, registered when this module is imported: :mod:`.expr_arithmetic`,
:mod:`.expr_strings`, :mod:`.expr_arrays` (arrays, sets, objects), :mod:`.expr_types`
(``$type``, ``$convert``…) and :mod:`.expr_dates`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from . import dates, numbers
from .errors import FAILED_TO_PARSE, StoreError, not_supported

class _Missing:
    """The absence of a value (MongoDB's "missing"), distinct from BSON null."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

Scope = dict
Compiled = Callable[[Scope], Any]

INVALID_PIPELINE_OPERATOR = 168
CONVERSION_FAILURE = 241


_CODE_NAMES = {INVALID_PIPELINE_OPERATOR: "InvalidPipelineOperator",
               CONVERSION_FAILURE: "ConversionFailure"}


def expression_error(code: int, message: str, code_name: str | None = None) -> StoreError:
    """A StoreError with MongoDB's code name for the codes this module names."""
    return StoreError(code, message, code_name or _CODE_NAMES.get(code))


# ---------------------------------------------------------------------------------------
# Values: types, truthiness, comparison


def type_name(value: Any) -> str:
    """The ``$type`` name of a value (``"missing"`` for MISSING)."""
    if value is MISSING:
        return "missing"
    t = type(value)
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is Int64:
        return "long"
    if t is float:
        return "double"
    if t is Decimal128:
        return "decimal"
    if t is str:
        return "string"
    if value is None:
        return "null"
    if isinstance(value, Mapping) and t is not DBRef:
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, (bytes, Binary)):
        return "binData"
    if t is ObjectId:
        return "objectId"
    if isinstance(value, dt.datetime) or t is DatetimeMS:
        return "date"
    if t is Regex or isinstance(value, re.Pattern):
        return "regex"
    if t is Timestamp:
        return "timestamp"
    if t is MinKey:
        return "minKey"
    if t is MaxKey:
        return "maxKey"
    if t is Code:
        return "javascriptWithScope" if value.scope is not None else "javascript"
    if t is DBRef:
        return "object"
    return t.__name__


def nullish(value: Any) -> bool:
    return value is None or value is MISSING


def truthy(value: Any) -> bool:
    """MongoDB's boolean coercion: false, null, missing and numeric zero are false."""
    if value is None or value is MISSING:
        return False
    t = type(value)
    if t is bool:
        return value
    if t in (int, Int64, float):
        return value != 0
    if t is Decimal128:
        return not value.to_decimal().is_zero()
    return True


def compare(a: Any, b: Any, collation: Any = None) -> int:
    """BSON order of two values where MISSING sorts below everything but MinKey (MongoDB's
    Value comparison)."""
    if a is MISSING or b is MISSING:
        if a is b:
            return 0
        if a is MISSING:
            return 1 if type(b) is MinKey else -1
        return -1 if type(a) is MinKey else 1
    from . import bsonorder  # the comparison module is written alongside this one

    return bsonorder.compare(a, b, collation)


def values_equal(a: Any, b: Any, collation: Any = None) -> bool:
    return compare(a, b, collation) == 0


def unique_values(values: list[Any], collation: Any = None) -> list[Any]:
    """Values without duplicates under BSON equality, first occurrences kept in order."""
    if collation is None:
        from . import bsonorder

        seen: set[bytes] = set()
        out = []
        for v in values:
            key = bsonorder.encode_key(v)
            if key not in seen:
                seen.add(key)
                out.append(v)
        return out
    out = []
    for v in values:
        if not any(values_equal(v, w, collation) for w in out):
            out.append(v)
    return out


def to_string(value: Any) -> str:
    """MongoDB's conversion of a value to a string ($toString, $convert to string)."""
    t = type(value)
    if t is str:
        return value
    if t is bool:
        return "true" if value else "false"
    if t in (int, Int64):
        return str(int(value))
    if t is float:
        return numbers.format_double(value)
    if t is Decimal128:
        return str(value)
    if t is ObjectId:
        return str(value)
    if dates.is_date(value):
        return dates.format_date(dates.to_millis(value), "%Y-%m-%dT%H:%M:%S.%LZ",
                                 dates.parse_timezone(None))
    raise expression_error(CONVERSION_FAILURE, f"Unsupported conversion from {type_name(value)} to "
                     "string in $convert with no onError value")


# ---------------------------------------------------------------------------------------
# Field paths and variables

_VARIABLE_NAME = re.compile(r"[a-z\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*")
SYSTEM_VARIABLES = ("ROOT", "CURRENT", "REMOVE", "NOW", "CLUSTER_TIME", "SEARCH_META",
                    "USER_ROLES", "DESCEND", "PRUNE", "KEEP")


def check_variable_name(name: str) -> None:
    """User variable names start with a lowercase letter or a non-ASCII character."""
    if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
        raise StoreError(FAILED_TO_PARSE, f"'{name}' starts with an invalid character for a "
                         "user variable name")


def split_path(path: str) -> list[str]:
    """The components of a dotted field path (without its ``$``), checked as MongoDB does."""
    if path == "":
        raise StoreError(40352, "FieldPath cannot be constructed with empty string")
    parts = path.split(".")
    for p in parts:
        if p == "":
            raise StoreError(15998, "FieldPath field names may not be empty strings.")
        if p.startswith("$"):
            raise StoreError(16410, f"FieldPath field names may not start with '$'. Consider "
                             f"using $getField or $setField. (field '{p}')")
    return parts


def _variable_path(value: Any, parts: list[str]) -> Any:
    """``$$var.a.b``: the path in a document, or through an array at the variable itself."""
    if isinstance(value, list):
        out = []
        for element in value:
            if isinstance(element, Mapping):
                reached = path_value(element, parts)
                if reached is not MISSING:
                    out.append(reached)
        return out
    return path_value(value, parts)


def path_value(doc: Any, parts: list[str], i: int = 0) -> Any:
    """The value of ``parts[i:]`` in ``doc`` by aggregation field-path rules."""
    value = doc
    n = len(parts)
    while True:
        if not isinstance(value, Mapping):
            return MISSING
        value = value.get(parts[i], MISSING)
        i += 1
        if i == n:
            return value
        if isinstance(value, list):
            out = []
            for element in value:
                if isinstance(element, Mapping):
                    reached = path_value(element, parts, i)
                    if reached is not MISSING:
                        out.append(reached)
            return out


def _compile_field_path(text: str) -> Compiled:
    if text in ("$", "$$"):
        raise StoreError(16872, f"'{text}' by itself is not a valid FieldPath")
    if text.startswith("$$"):
        name, _, rest = text[2:].partition(".")
        if name not in SYSTEM_VARIABLES:
            check_variable_name(name)
        parts = split_path(rest) if rest else []
        if name == "REMOVE":
            return lambda scope: MISSING
        if name == "NOW":
            def now(scope: Scope) -> Any:
                value = scope.get("NOW") or set_now(scope)
                return _variable_path(value, parts) if parts else value
            return now
        if name in ("CLUSTER_TIME", "SEARCH_META", "USER_ROLES"):
            raise not_supported(f"the variable $${name}")

        def variable(scope: Scope) -> Any:
            try:
                value = scope[name]
            except KeyError:
                raise StoreError(17276, f"Use of undefined variable: {name}") from None
            return _variable_path(value, parts) if parts else value
        return variable
    parts = split_path(text[1:])
    if len(parts) == 1:
        field = parts[0]

        def top_field(scope: Scope) -> Any:
            current = scope["CURRENT"]
            if isinstance(current, Mapping):
                return current.get(field, MISSING)
            return MISSING
        return top_field
    return lambda scope: path_value(scope["CURRENT"], parts)


def set_now(scope: Scope) -> dt.datetime:
    """Fix ``$$NOW`` in ``scope`` (the same instant for a whole command) and return it."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    scope["NOW"] = now
    return now


# ---------------------------------------------------------------------------------------
# Compilation


class _Op:
    """A registered operator: ``build(operand, collation) -> Compiled``."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[Any, Any], Compiled]) -> None:
        self.build = build


OPERATORS: dict[str, _Op] = {}


def compile_expression(expr: Any, collation: Any = None) -> Compiled:
    """Compile an aggregation expression; raise StoreError for an invalid one."""
    if isinstance(expr, str):
        if expr.startswith("$"):
            return _compile_field_path(expr)
        return lambda scope: expr
    if isinstance(expr, Mapping) and type(expr) is not DBRef:
        if not expr:
            return lambda scope: {}
        first = next(iter(expr))
        if isinstance(first, str) and first.startswith("$"):
            if len(expr) != 1:
                raise StoreError(15983, "an expression specification must contain exactly one "
                                 f"field, the name of the expression. Found {len(expr)} fields "
                                 f"in {dict(expr)!r}")
            return operator(first).build(expr[first], collation)
        return _compile_object(expr, collation)
    if isinstance(expr, list):
        items = [compile_expression(e, collation) for e in expr]

        def array(scope: Scope) -> list:
            out = []
            for f in items:
                v = f(scope)
                out.append(None if v is MISSING else v)
            return out
        return array
    return lambda scope: expr


def operator(name: str) -> _Op:
    try:
        return OPERATORS[name]
    except KeyError:
        if name in _UNSUPPORTED:
            raise not_supported(f"the expression operator {name}") from None
        raise expression_error(INVALID_PIPELINE_OPERATOR,
                               f"Unrecognized expression '{name}'") from None


_UNSUPPORTED = {"$function", "$accumulator", "$meta", "$toHashedIndexKey", "$median",
                "$percentile"}


def _compile_object(expr: Mapping, collation: Any) -> Compiled:
    fields: list[tuple[str, Compiled]] = []
    for key, value in expr.items():
        if key.startswith("$"):
            raise StoreError(16410, f"FieldPath field names may not start with '$'. Consider "
                             f"using $getField or $setField. (field '{key}')")
        if "." in key:
            raise StoreError(16412, f"FieldPath field names may not contain '.'. (field '{key}')")
        if key == "":
            raise StoreError(16411, "FieldPath field names may not be empty strings.")
        fields.append((key, compile_expression(value, collation)))

    def obj(scope: Scope) -> dict:
        out = {}
        for key, f in fields:
            v = f(scope)
            if v is not MISSING:
                out[key] = v
        return out
    return obj


def evaluate(expr: Any, doc: Any, variables: Mapping | None = None, collation: Any = None) -> Any:
    """Evaluate ``expr`` against ``doc`` with user ``variables`` (may return MISSING).

    The compiled form of a document or array expression is remembered (by identity, the
    expression object kept alive with it), so a filter's ``$expr`` evaluated per document
    is compiled once."""
    if isinstance(expr, (dict, list)):
        key = (id(expr), id(collation))
        cached = _COMPILED.get(key)
        if cached is None or cached[0] is not expr or cached[1] is not collation:
            if len(_COMPILED) >= 512:
                _COMPILED.clear()
            cached = _COMPILED[key] = (expr, collation, compile_expression(expr, collation))
        return cached[2](make_scope(doc, variables))
    return compile_expression(expr, collation)(make_scope(doc, variables))


_COMPILED: dict[tuple[int, int], tuple[Any, Any, Compiled]] = {}


def make_scope(doc: Any, variables: Mapping | None = None) -> Scope:
    scope: Scope = dict(variables) if variables else {}
    scope["ROOT"] = doc
    scope["CURRENT"] = doc
    return scope


def with_document(scope: Scope, doc: Any) -> Scope:
    """The scope of ``scope``'s variables for another document."""
    inner = dict(scope)
    inner["ROOT"] = doc
    inner["CURRENT"] = doc
    return inner


# Registration helpers ------------------------------------------------------------------

def arg_list(operand: Any) -> list:
    return list(operand) if isinstance(operand, list) else [operand]


def simple(name: str, nargs: int | tuple[int, int] | None = None) -> Callable:
    """Register an operator whose arguments are all evaluated first: ``fn(values, collation)``."""

    def register(fn: Callable[[list, Any], Any]) -> Callable:
        def build(operand: Any, collation: Any) -> Compiled:
            args = arg_list(operand)
            check_arity(name, args, nargs)
            compiled = [compile_expression(a, collation) for a in args]
            if len(compiled) == 1:
                only = compiled[0]
                return lambda scope: fn([only(scope)], collation)
            return lambda scope: fn([f(scope) for f in compiled], collation)
        OPERATORS[name] = _Op(build)
        return fn
    return register


def unary(name: str) -> Callable:
    """Register a one-argument operator that yields null for a null or missing argument
    (MongoDB's null propagation): ``fn(value)`` is called only for any other value."""

    def register(fn: Callable[[Any], Any]) -> Callable:
        @simple(name, 1)
        def run(values: list, collation: Any) -> Any:
            v = values[0]
            return None if nullish(v) else fn(v)
        return fn
    return register


def check_arity(name: str, args: list, nargs: int | tuple[int, int] | None) -> None:
    if nargs is None:
        return
    if isinstance(nargs, int):
        if len(args) != nargs:
            raise StoreError(16020, f"Expression {name} takes exactly {nargs} arguments. "
                             f"{len(args)} were passed in.")
    else:
        low, high = nargs
        if not low <= len(args) <= high:
            raise StoreError(16020, f"Expression {name} takes at least {low} arguments, and at "
                             f"most {high}, but {len(args)} were passed in.")


def named(name: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Callable:
    """Register an operator taking a document of named arguments, all evaluated:
    ``fn(args: dict, collation)`` where an absent optional argument is MISSING."""

    def register(fn: Callable[[dict, Any], Any]) -> Callable:
        def build(operand: Any, collation: Any) -> Compiled:
            if not isinstance(operand, Mapping):
                raise StoreError(FAILED_TO_PARSE, f"{name} expects an object of named "
                                 f"arguments but found {type_name(operand)}")
            for key in operand:
                if key not in required and key not in optional:
                    raise StoreError(FAILED_TO_PARSE, f"{name} found an unknown argument: {key}")
            for key in required:
                if key not in operand:
                    raise StoreError(FAILED_TO_PARSE, f"Missing '{key}' parameter to {name}")
            compiled = {k: compile_expression(v, collation) for k, v in operand.items()}
            keys = required + optional

            def run(scope: Scope) -> Any:
                return fn({k: compiled[k](scope) if k in compiled else MISSING for k in keys},
                          collation)
            return run
        OPERATORS[name] = _Op(build)
        return fn
    return register


def special(name: str) -> Callable:
    """Register an operator with its own compilation (lazy arguments, variables)."""

    def register(build: Callable[[Any, Any], Compiled]) -> Callable:
        OPERATORS[name] = _Op(build)
        return build
    return register


# ---------------------------------------------------------------------------------------
# Literal, variables, conditionals, booleans

@special("$literal")
def _literal(operand: Any, collation: Any) -> Compiled:
    return lambda scope: operand


OPERATORS["$const"] = OPERATORS["$literal"]  # MongoDB's older spelling of $literal


@special("$expr")
def _expr(operand: Any, collation: Any) -> Compiled:
    # {$expr: <expression>} inside an expression is the expression itself
    return compile_expression(operand, collation)


@special("$let")
def _let(operand: Any, collation: Any) -> Compiled:
    if not isinstance(operand, Mapping) or set(operand) != {"vars", "in"}:
        raise StoreError(FAILED_TO_PARSE, "$let requires exactly the fields 'vars' and 'in'")
    if not isinstance(operand["vars"], Mapping):
        raise StoreError(FAILED_TO_PARSE, "invalid parameter: expected an object (vars)")
    variables = []
    for name, value in operand["vars"].items():
        if name != "CURRENT":  # $let may rebind CURRENT (field paths then read it)
            check_variable_name(name)
        variables.append((name, compile_expression(value, collation)))
    body = compile_expression(operand["in"], collation)

    def let(scope: Scope) -> Any:
        inner = dict(scope)
        for name, f in variables:
            inner[name] = f(scope)
        return body(inner)
    return let


@special("$cond")
def _cond(operand: Any, collation: Any) -> Compiled:
    if isinstance(operand, Mapping):
        for key in operand:
            if key not in ("if", "then", "else"):
                raise StoreError(17083, f"Unrecognized parameter to $cond: {key}")
        for key in ("if", "then", "else"):
            if key not in operand:
                raise StoreError(17080 + ("if", "then", "else").index(key),
                                 f"Missing '{key}' parameter to $cond")
        parts = [operand["if"], operand["then"], operand["else"]]
    else:
        parts = arg_list(operand)
        check_arity("$cond", parts, 3)
    test, then, other = (compile_expression(p, collation) for p in parts)
    return lambda scope: then(scope) if truthy(test(scope)) else other(scope)


@special("$ifNull")
def _if_null(operand: Any, collation: Any) -> Compiled:
    args = arg_list(operand)
    if len(args) < 2:
        raise StoreError(1257300, "$ifNull needs at least two arguments, had: "
                         f"{len(args)}")
    compiled = [compile_expression(a, collation) for a in args]

    def if_null(scope: Scope) -> Any:
        for f in compiled[:-1]:
            v = f(scope)
            if not nullish(v):
                return v
        return compiled[-1](scope)
    return if_null


@special("$switch")
def _switch(operand: Any, collation: Any) -> Compiled:
    if not isinstance(operand, Mapping):
        raise StoreError(40060, "$switch requires an object as an argument")
    branches = []
    default = None
    for key, value in operand.items():
        if key == "branches":
            if not isinstance(value, list):
                raise StoreError(40061, "$switch expected an array for 'branches'")
            for branch in value:
                if not isinstance(branch, Mapping):
                    raise StoreError(40062, "$switch expected each branch to be an object")
                for k in branch:
                    if k not in ("case", "then"):
                        raise StoreError(40063, f"$switch found an unknown argument to a "
                                         f"branch: {k}")
                if "case" not in branch:
                    raise StoreError(40064, "$switch requires each branch have a 'case' "
                                     "expression")
                if "then" not in branch:
                    raise StoreError(40065, "$switch requires each branch have a 'then' "
                                     "expression.")
                branches.append((compile_expression(branch["case"], collation),
                                 compile_expression(branch["then"], collation)))
        elif key == "default":
            default = compile_expression(value, collation)
        else:
            raise StoreError(40067, f"$switch found an unknown argument: {key}")
    if not branches:
        raise StoreError(40068, "$switch requires at least one branch.")

    def switch(scope: Scope) -> Any:
        for case, then in branches:
            if truthy(case(scope)):
                return then(scope)
        if default is None:
            raise StoreError(40066, "$switch could not find a matching branch for an input, "
                             "and no default was specified.")
        return default(scope)
    return switch


@special("$and")
def _and(operand: Any, collation: Any) -> Compiled:
    compiled = [compile_expression(a, collation) for a in arg_list(operand)]
    return lambda scope: all(truthy(f(scope)) for f in compiled)


@special("$or")
def _or(operand: Any, collation: Any) -> Compiled:
    compiled = [compile_expression(a, collation) for a in arg_list(operand)]
    return lambda scope: any(truthy(f(scope)) for f in compiled)


@simple("$not", 1)
def _not(values: list, collation: Any) -> bool:
    return not truthy(values[0])


# ---------------------------------------------------------------------------------------
# Comparison

def _comparison(name: str, test: Callable[[int], bool]) -> None:
    @simple(name, 2)
    def run(values: list, collation: Any) -> bool:
        return test(compare(values[0], values[1], collation))


_comparison("$eq", lambda c: c == 0)
_comparison("$ne", lambda c: c != 0)
_comparison("$gt", lambda c: c > 0)
_comparison("$gte", lambda c: c >= 0)
_comparison("$lt", lambda c: c < 0)
_comparison("$lte", lambda c: c <= 0)


@simple("$cmp", 2)
def _cmp(values: list, collation: Any) -> int:
    return compare(values[0], values[1], collation)


# The operator families register themselves in OPERATORS (they import this module).
from . import expr_arithmetic, expr_arrays, expr_dates, expr_strings, expr_types  # noqa: E402,F401

__all__ = [
    "MISSING", "OPERATORS", "compile_expression", "evaluate", "make_scope", "with_document",
    "type_name", "truthy", "nullish", "compare", "values_equal", "unique_values", "path_value",
    "split_path", "check_variable_name", "set_now", "simple", "named", "special", "arg_list",
    "check_arity", "expression_error", "to_string",
]
