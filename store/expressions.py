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
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
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
from .errors import BAD_VALUE, FAILED_TO_PARSE, StoreError, not_supported


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


def _error(code: int, message: str, code_name: str | None = None) -> StoreError:
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


def _describe(value: Any) -> str:
    return type_name(value)


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
            raise StoreError(16410, f"FieldPath field names may not start with '$'. "
                             f"Consider using $getField or $setField.")
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
        raise _error(INVALID_PIPELINE_OPERATOR, f"Unrecognized expression '{name}'") from None


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

def _arg_list(operand: Any) -> list:
    return list(operand) if isinstance(operand, list) else [operand]


def simple(name: str, nargs: int | tuple[int, int] | None = None) -> Callable:
    """Register an operator whose arguments are all evaluated first: ``fn(values, collation)``."""

    def register(fn: Callable[[list, Any], Any]) -> Callable:
        def build(operand: Any, collation: Any) -> Compiled:
            args = _arg_list(operand)
            _check_arity(name, args, nargs)
            compiled = [compile_expression(a, collation) for a in args]
            if len(compiled) == 1:
                only = compiled[0]
                return lambda scope: fn([only(scope)], collation)
            return lambda scope: fn([f(scope) for f in compiled], collation)
        OPERATORS[name] = _Op(build)
        return fn
    return register


def _check_arity(name: str, args: list, nargs: int | tuple[int, int] | None) -> None:
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
        parts = _arg_list(operand)
        _check_arity("$cond", parts, 3)
    test, then, other = (compile_expression(p, collation) for p in parts)
    return lambda scope: then(scope) if truthy(test(scope)) else other(scope)


@special("$ifNull")
def _if_null(operand: Any, collation: Any) -> Compiled:
    args = _arg_list(operand)
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
    compiled = [compile_expression(a, collation) for a in _arg_list(operand)]
    return lambda scope: all(truthy(f(scope)) for f in compiled)


@special("$or")
def _or(operand: Any, collation: Any) -> Compiled:
    compiled = [compile_expression(a, collation) for a in _arg_list(operand)]
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


# ---------------------------------------------------------------------------------------
# Arithmetic

def _numeric_args(name: str, values: list, code: int) -> list | None:
    """The numbers of ``values``; None if any is null/missing; StoreError for another type."""
    for v in values:
        if nullish(v):
            return None
    for v in values:
        if not numbers.is_number(v):
            raise StoreError(code, f"{name} only supports numeric types, not {_describe(v)}")
    return values


@simple("$add")
def _add(values: list, collation: Any) -> Any:
    total = numbers.Summation()
    date_ms = None
    for v in values:
        if nullish(v):
            return None
        if numbers.is_number(v):
            total.add(v)
        elif dates.is_date(v):
            if date_ms is not None:
                raise StoreError(16612, "only one date allowed in an $add expression")
            date_ms = dates.to_millis(v)
        else:
            raise StoreError(16554, f"$add only supports numeric or date types, not "
                             f"{_describe(v)}")
    if date_ms is None:
        return total.result()
    if total.widest == numbers.DECIMAL:
        delta = int(total.as_decimal().to_integral_value(ROUND_HALF_EVEN))
    elif total.widest == numbers.DOUBLE:
        d = total.as_double()
        if not math.isfinite(d):
            raise StoreError(BAD_VALUE, "date overflow in $add")
        delta = int(round(d))
    else:
        delta = total.integers
    return dates.from_millis(date_ms + delta)


@simple("$subtract", 2)
def _subtract(values: list, collation: Any) -> Any:
    a, b = values
    if nullish(a) or nullish(b):
        return None
    if numbers.is_number(a) and numbers.is_number(b):
        return numbers.subtract(a, b)
    if dates.is_date(a):
        if dates.is_date(b):
            return Int64(dates.to_millis(a) - dates.to_millis(b))
        if numbers.is_number(b):
            amount = b
            if numbers.kind(b) == numbers.DOUBLE:
                amount = int(round(b))
            elif numbers.kind(b) == numbers.DECIMAL:
                amount = int(b.to_decimal().to_integral_value(ROUND_HALF_EVEN))
            return dates.from_millis(dates.to_millis(a) - int(amount))
    raise StoreError(16556, f"can't $subtract {_describe(b)} from {_describe(a)}")


@simple("$multiply")
def _multiply(values: list, collation: Any) -> Any:
    nums = _numeric_args("$multiply", values, 16555)
    return None if nums is None else numbers.multiply(nums)


@simple("$divide", 2)
def _divide(values: list, collation: Any) -> Any:
    nums = _numeric_args("$divide", values, 16609)
    if nums is None:
        return None
    if _is_zero(nums[1]):
        raise StoreError(BAD_VALUE, "can't $divide by zero")
    return numbers.divide(*nums)


def _is_zero(value: Any) -> bool:
    if type(value) is Decimal128:
        return value.to_decimal().is_zero()
    return value == 0


@simple("$mod", 2)
def _mod(values: list, collation: Any) -> Any:
    nums = _numeric_args("$mod", values, 16611)
    if nums is None:
        return None
    if _is_zero(nums[1]):
        raise StoreError(16610, "can't $mod by zero")
    return numbers.modulo(*nums)


def _unary_number(name: str, fn: Callable[[Any], Any], code: int = 28765) -> None:
    @simple(name, 1)
    def run(values: list, collation: Any) -> Any:
        v = values[0]
        if nullish(v):
            return None
        if not numbers.is_number(v):
            raise StoreError(code, f"{name} only supports numeric types, not {_describe(v)}")
        return fn(v)


def _abs(v: Any) -> Any:
    k = numbers.kind(v)
    if k == numbers.DECIMAL:
        return numbers.make_decimal(abs(v.to_decimal()))
    if k == numbers.DOUBLE:
        return abs(v)
    if k == numbers.INT64 and v == numbers.INT64_MIN:
        raise StoreError(28680, "can't take $abs of long long min")
    return numbers.make_int(abs(int(v)), k)


def _rounding(mode: str) -> Callable[[Any], Any]:
    def run(v: Any) -> Any:
        k = numbers.kind(v)
        if k <= numbers.INT64:
            return v
        if k == numbers.DOUBLE:
            if not math.isfinite(v):
                return v
            return float(math.ceil(v) if mode == ROUND_CEILING else math.floor(v))
        return numbers.make_decimal(v.to_decimal().to_integral_value(mode))
    return run


def _float_fn(name: str, fn: Callable[[float], float], dec: Callable[[Decimal], Decimal],
              domain: Callable[[float], bool] | None = None, code: int = 0,
              message: str = "") -> Callable[[Any], Any]:
    def run(v: Any) -> Any:
        k = numbers.kind(v)
        x = numbers.to_float(v)
        if domain is not None and not math.isnan(x) and not domain(x):
            raise StoreError(code, message)
        if k == numbers.DECIMAL:
            return numbers.make_decimal(dec(v.to_decimal()))
        return fn(x)
    return run


_unary_number("$abs", _abs, 28765)
_unary_number("$ceil", _rounding(ROUND_CEILING), 28765)
_unary_number("$floor", _rounding(ROUND_FLOOR), 28765)
_unary_number("$sqrt", _float_fn("$sqrt", math.sqrt, lambda d: numbers.DECIMAL_CONTEXT.sqrt(d),
                                 lambda x: x >= 0, 28714, "$sqrt's argument must be greater "
                                 "than or equal to 0"), 28765)
_unary_number("$exp", _float_fn("$exp", lambda x: math.exp(x) if x < 710 else math.inf,
                                lambda d: numbers.DECIMAL_CONTEXT.exp(d)), 28765)
_unary_number("$ln", _float_fn("$ln", math.log, lambda d: numbers.DECIMAL_CONTEXT.ln(d),
                               lambda x: x > 0, 28766, "$ln's argument must be a positive "
                               "number"), 28765)
_unary_number("$log10", _float_fn("$log10", math.log10,
                                  lambda d: numbers.DECIMAL_CONTEXT.log10(d),
                                  lambda x: x > 0, 28761, "$log10's argument must be a "
                                  "positive number"), 28765)


def _trig(name: str, fn: Callable[[float], float],
          domain: tuple[float, float, bool, bool] | None = None) -> None:
    """A trigonometric operator: a double result (a Decimal128 for a decimal input, computed
    in double precision); null/missing gives null; NaN gives NaN; out of domain is an
    error. ``domain`` is (low, high, low_inclusive, high_inclusive)."""

    @simple(name, 1)
    def run(values: list, collation: Any) -> Any:
        v = values[0]
        if nullish(v):
            return None
        if not numbers.is_number(v):
            raise StoreError(28765, f"{name} only supports numeric types, not {_describe(v)}")
        x = numbers.to_float(v)
        if not math.isnan(x) and domain is not None:
            low, high, low_in, high_in = domain
            if x < low or x > high or (x == low and not low_in) or (x == high and not high_in):
                bounds = f"{'[' if low_in else '('}{low:g},{high:g}{']' if high_in else ')'}"
                raise StoreError(50989, f"cannot apply {name} to {x:g}, value must be in "
                                 f"{bounds}")
        result = fn(x) if not math.isnan(x) else math.nan
        if numbers.kind(v) == numbers.DECIMAL:
            return numbers.make_decimal(numbers.to_decimal(result))
        return result


_INF = math.inf
_trig("$sin", math.sin, (-_INF, _INF, False, False))
_trig("$cos", math.cos, (-_INF, _INF, False, False))
_trig("$tan", math.tan, (-_INF, _INF, False, False))
_trig("$asin", math.asin, (-1.0, 1.0, True, True))
_trig("$acos", math.acos, (-1.0, 1.0, True, True))
_trig("$atan", math.atan)
_trig("$sinh", math.sinh)
_trig("$cosh", math.cosh)
_trig("$tanh", math.tanh)
_trig("$asinh", math.asinh)
_trig("$acosh", math.acosh, (1.0, _INF, True, True))
_trig("$atanh", math.atanh, (-1.0, 1.0, True, True))
_trig("$degreesToRadians", math.radians)
_trig("$radiansToDegrees", math.degrees)


@simple("$atan2", 2)
def _atan2(values: list, collation: Any) -> Any:
    nums = _numeric_args("$atan2", values, 51044)
    if nums is None:
        return None
    result = math.atan2(numbers.to_float(nums[0]), numbers.to_float(nums[1]))
    if numbers.DECIMAL in (numbers.kind(nums[0]), numbers.kind(nums[1])):
        return numbers.make_decimal(numbers.to_decimal(result))
    return result


def _bitwise(name: str, combine: Callable[[int, int], int]) -> None:
    @simple(name)
    def run(values: list, collation: Any) -> Any:
        if any(nullish(v) for v in values):
            return None
        result = -1 if name == "$bitAnd" else 0
        widest = numbers.INT32
        for v in values:
            k = numbers.kind(v)
            if k not in (numbers.INT32, numbers.INT64):
                raise StoreError(28663, f"{name} only supports int and long operands, not "
                                 f"{_describe(v)}")
            widest = max(widest, k)
            result = combine(result, int(v))
        return numbers.make_int(result, widest)


_bitwise("$bitAnd", lambda a, b: a & b)
_bitwise("$bitOr", lambda a, b: a | b)
_bitwise("$bitXor", lambda a, b: a ^ b)


@simple("$bitNot", 1)
def _bit_not(values: list, collation: Any) -> Any:
    v = values[0]
    if nullish(v):
        return None
    k = numbers.kind(v)
    if k not in (numbers.INT32, numbers.INT64):
        raise StoreError(28663, f"$bitNot only supports int and long operands, not "
                         f"{_describe(v)}")
    return numbers.make_int(~int(v), k)


@simple("$log", 2)
def _log(values: list, collation: Any) -> Any:
    nums = _numeric_args("$log", values, 28756)
    if nums is None:
        return None
    n, base = nums
    fn_, fb = numbers.to_float(n), numbers.to_float(base)
    if not math.isnan(fn_) and fn_ <= 0:
        raise StoreError(28758, "$log's argument must be a positive number")
    if not math.isnan(fb) and (fb <= 0 or fb == 1):
        raise StoreError(28759, "$log's base must be a positive number not equal to 1")
    if numbers.DECIMAL in (numbers.kind(n), numbers.kind(base)):
        ctx = numbers.DECIMAL_CONTEXT
        return numbers.make_decimal(ctx.divide(ctx.ln(numbers.to_decimal(n)),
                                               ctx.ln(numbers.to_decimal(base))))
    return math.log(fn_) / math.log(fb)


@simple("$pow", 2)
def _pow(values: list, collation: Any) -> Any:
    nums = _numeric_args("$pow", values, 28762)
    if nums is None:
        return None
    base, exp = nums
    kb, ke = numbers.kind(base), numbers.kind(exp)
    w = max(kb, ke)
    if w == numbers.DECIMAL:
        return numbers.make_decimal(numbers.DECIMAL_CONTEXT.power(numbers.to_decimal(base),
                                                                  numbers.to_decimal(exp)))
    if w == numbers.DOUBLE:
        try:
            return math.pow(float(base), float(exp))
        except (OverflowError, ValueError):
            return float(base) ** float(exp) if float(base) >= 0 else math.nan
    b, e = int(base), int(exp)
    if b == 0 and e < 0:
        raise StoreError(28764, "$pow cannot take a base of 0 and a negative exponent")
    if e < 0:
        if b in (1, -1):
            return numbers.make_int(b ** e if b == 1 else (1 if e % 2 == 0 else -1), w)
        return math.pow(b, e)
    result = b ** e if abs(b) > 1 else (b ** (e % 2 if b == -1 else 1) if e else 1)
    if numbers.INT64_MIN <= result <= numbers.INT64_MAX:
        return numbers.make_int(result, w)
    return math.pow(b, e)


def _round_op(name: str, mode: str) -> None:
    @simple(name, (1, 2))
    def run(values: list, collation: Any) -> Any:
        v = values[0]
        place = values[1] if len(values) > 1 else 0
        if nullish(v) or nullish(place):
            return None
        if not numbers.is_number(v):
            raise StoreError(51081, f"{name} only supports numeric types, not {_describe(v)}")
        if not numbers.is_integral(place) or not -20 <= numbers.as_int(place) <= 100:
            raise StoreError(51083, f"cannot apply {name} with precision value {place!r}, "
                             "value must be in [-20, 100]")
        return numbers.round_number(v, numbers.as_int(place), mode)


_round_op("$round", ROUND_HALF_EVEN)
_round_op("$trunc", ROUND_DOWN)


def _array_or_args(name: str, values: list) -> list:
    """``$sum``/``$avg``/``$min``/``$max`` as expressions: one array argument means its
    elements, several arguments mean the arguments."""
    if len(values) == 1 and isinstance(values[0], list):
        return values[0]
    return values


@simple("$sum")
def _sum_expr(values: list, collation: Any) -> Any:
    total = numbers.Summation()
    for v in _array_or_args("$sum", values):
        if numbers.is_number(v):
            total.add(v)
    return total.result()


@simple("$avg")
def _avg_expr(values: list, collation: Any) -> Any:
    total = numbers.Summation()
    for v in _array_or_args("$avg", values):
        if numbers.is_number(v):
            total.add(v)
    return average(total)


def average(total: numbers.Summation) -> Any:
    """The mean of a summation: null when empty, a double (a Decimal128 for decimals)."""
    if total.count == 0:
        return None
    if total.widest == numbers.DECIMAL:
        return numbers.make_decimal(numbers.DECIMAL_CONTEXT.divide(total.as_decimal(),
                                                                   Decimal(total.count)))
    if total.widest == numbers.DOUBLE:
        return total.as_double() / total.count
    return total.integers / total.count


def _extreme(values: list, collation: Any, sign: int) -> Any:
    best = MISSING
    for v in values:
        if nullish(v):
            continue
        if best is MISSING or compare(v, best, collation) * sign > 0:
            best = v
    return None if best is MISSING else best


@simple("$max")
def _max_expr(values: list, collation: Any) -> Any:
    return _extreme(_array_or_args("$max", values), collation, 1)


@simple("$min")
def _min_expr(values: list, collation: Any) -> Any:
    return _extreme(_array_or_args("$min", values), collation, -1)


def std_dev(values: list[Any], sample: bool) -> Any:
    nums = [numbers.to_float(v) for v in values if numbers.is_number(v)]
    n = len(nums)
    if n == 0 or (sample and n == 1):
        return None
    mean = math.fsum(nums) / n
    variance = math.fsum((x - mean) ** 2 for x in nums) / (n - 1 if sample else n)
    return math.sqrt(variance)


@simple("$stdDevPop")
def _std_pop(values: list, collation: Any) -> Any:
    return std_dev(_array_or_args("$stdDevPop", values), False)


@simple("$stdDevSamp")
def _std_samp(values: list, collation: Any) -> Any:
    return std_dev(_array_or_args("$stdDevSamp", values), True)


@special("$rand")
def _rand(operand: Any, collation: Any) -> Compiled:
    if operand not in ({}, []):
        raise StoreError(3040501, "$rand does not currently accept arguments")
    return lambda scope: random.random()


# ---------------------------------------------------------------------------------------
# Strings

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


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
    raise _error(CONVERSION_FAILURE, f"Unsupported conversion from {type_name(value)} to "
                     "string in $convert with no onError value")


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
            raise StoreError(16702, f"$concat only supports strings, not {_describe(v)}")
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
                         f"32-bit integral value, not {_describe(value)}")
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
    raise StoreError(code, f"{name}: argument must be a numeric type, not {_describe(value)}")


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
                         f"type {_describe(start)})")
    if not numbers.is_number(count):
        raise StoreError(34452, f"$substrCP: length must be a numeric type (is BSON type "
                         f"{_describe(count)})")
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
    v = values[0]
    if type(v) is not str:
        raise StoreError(34473, f"$strLenBytes requires a string argument, found: "
                         f"{_describe(v)}")
    return len(v.encode())


@simple("$strLenCP", 1)
def _strlen_cp(values: list, collation: Any) -> int:
    v = values[0]
    if type(v) is not str:
        raise StoreError(34471, f"$strLenCP requires a string argument, found: {_describe(v)}")
    return len(v)


@simple("$split", 2)
def _split(values: list, collation: Any) -> Any:
    s, sep = values
    if nullish(s) or nullish(sep):
        return None
    if type(s) is not str:
        raise StoreError(40085, f"$split requires an expression that evaluates to a string as a "
                         f"first argument, found: {_describe(s)}")
    if type(sep) is not str:
        raise StoreError(40086, f"$split requires an expression that evaluates to a string as a "
                         f"second argument, found: {_describe(sep)}")
    if sep == "":
        raise StoreError(40087, "$split requires a non-empty separator")
    return s.split(sep)


def _index_of(name: str, values: list, by_bytes: bool) -> Any:
    s, sub = values[0], values[1]
    if nullish(s):
        return None
    if type(s) is not str:
        raise StoreError(40091, f"{name} requires a string as the first argument, found: "
                         f"{_describe(s)}")
    if type(sub) is not str:
        raise StoreError(40092, f"{name} requires a string as the second argument, found: "
                         f"{_describe(sub)}")
    bounds = []
    for v in values[2:]:
        if not numbers.is_integral(v):
            raise StoreError(40096, f"{name} requires an integral starting index/ending index, "
                             f"found a value of type: {_describe(v)}")
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
        if type(s) is not str:
            raise StoreError(50699, f"{name} requires its input to be a string, got "
                             f"{_describe(s)}")
        if chars is MISSING:
            chars = _WHITESPACE
        elif type(chars) is not str:
            raise StoreError(50700, f"{name} requires 'chars' to be a string, got "
                             f"{_describe(chars)}")
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
                                 f"{_describe(v)}")
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
        if ch == "i":
            flags |= re.IGNORECASE
        elif ch == "m":
            flags |= re.MULTILINE
        elif ch == "s":
            flags |= re.DOTALL
        elif ch == "x":
            flags |= re.VERBOSE
        elif ch == "u":
            pass
        else:
            raise StoreError(51108, f"{name} invalid flag in regex options: {ch}")
    try:
        return _regex_cache(pattern, flags)
    except re.error as exc:
        raise StoreError(51111, f"Invalid Regex in {name}: {exc}") from None


_REGEXES: dict[tuple[str, int], re.Pattern[str]] = {}


def _regex_cache(pattern: str, flags: int) -> re.Pattern[str]:
    key = (pattern, flags)
    compiled = _REGEXES.get(key)
    if compiled is None:
        if len(_REGEXES) > 512:
            _REGEXES.clear()
        compiled = _REGEXES[key] = re.compile(pattern, flags)
    return compiled


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


# ---------------------------------------------------------------------------------------
# Arrays

def _need_array(name: str, value: Any, code: int) -> list:
    if not isinstance(value, list):
        raise StoreError(code, f"{name}'s argument must be an array, but is {_describe(value)}")
    return value


@simple("$arrayElemAt", 2)
def _array_elem_at(values: list, collation: Any) -> Any:
    arr, idx = values
    if nullish(arr) or nullish(idx):
        return None
    _need_array("$arrayElemAt", arr, 28689)
    if not numbers.is_number(idx):
        raise StoreError(28690, f"$arrayElemAt's second argument must be a numeric value, but "
                         f"is {_describe(idx)}")
    if not numbers.is_integral(idx):
        raise StoreError(28691, "$arrayElemAt's second argument must be representable as a "
                         "32-bit integer")
    i = numbers.as_int(idx)
    if i < 0:
        i += len(arr)
    return arr[i] if 0 <= i < len(arr) else MISSING


def _first_last(name: str, index: int) -> None:
    @simple(name, 1)
    def run(values: list, collation: Any) -> Any:
        arr = values[0]
        if nullish(arr):
            return None
        _need_array(name, arr, 28689)
        return arr[index] if arr else MISSING


_first_last("$first", 0)
_first_last("$last", -1)


@simple("$size", 1)
def _size(values: list, collation: Any) -> int:
    v = values[0]
    if not isinstance(v, list):
        raise StoreError(17124, "The argument to $size must be an array. Type of argument is "
                         f"{_describe(v)}")
    return len(v)


@simple("$isArray", 1)
def _is_array(values: list, collation: Any) -> bool:
    return isinstance(values[0], list)


@simple("$in", 2)
def _in(values: list, collation: Any) -> bool:
    x, arr = values
    if not isinstance(arr, list):
        raise StoreError(40081, "$in requires an array as a second argument, found: "
                         f"{_describe(arr)}")
    return any(compare(x, e, collation) == 0 for e in arr)


@simple("$indexOfArray", (2, 4))
def _index_of_array(values: list, collation: Any) -> Any:
    arr, x = values[0], values[1]
    if nullish(arr):
        return None
    if not isinstance(arr, list):
        raise StoreError(40090, "$indexOfArray requires an array as a first argument, found: "
                         f"{_describe(arr)}")
    bounds = []
    for v in values[2:]:
        if not numbers.is_integral(v):
            raise StoreError(40096, "$indexOfArray requires an integral starting index, found a "
                             f"value of type: {_describe(v)}")
        if numbers.as_int(v) < 0:
            raise StoreError(40097, "$indexOfArray requires a nonnegative starting index")
        bounds.append(numbers.as_int(v))
    start = bounds[0] if bounds else 0
    end = min(bounds[1], len(arr)) if len(bounds) > 1 else len(arr)
    for i in range(start, end):
        if compare(arr[i], x, collation) == 0:
            return i
    return -1


@simple("$concatArrays")
def _concat_arrays(values: list, collation: Any) -> Any:
    out: list = []
    for v in values:
        if nullish(v):
            return None
        if not isinstance(v, list):
            raise StoreError(28664, f"$concatArrays only supports arrays, not {_describe(v)}")
        out.extend(v)
    return out


@simple("$reverseArray", 1)
def _reverse_array(values: list, collation: Any) -> Any:
    v = values[0]
    if nullish(v):
        return None
    if not isinstance(v, list):
        raise StoreError(34435, f"The argument to $reverseArray must be an array, but was of "
                         f"type: {_describe(v)}")
    return v[::-1]


@simple("$slice", (2, 3))
def _slice(values: list, collation: Any) -> Any:
    if any(nullish(v) for v in values):
        return None
    arr = values[0]
    if not isinstance(arr, list):
        raise StoreError(28724, f"First argument to $slice must be an array, but is of type: "
                         f"{_describe(arr)}")
    for v in values[1:]:
        if not numbers.is_integral(v):
            raise StoreError(28725, "Second argument to $slice must be a numeric value, but is "
                             f"of type: {_describe(v)}")
    if len(values) == 2:
        n = numbers.as_int(values[1])
        return arr[:n] if n >= 0 else arr[max(0, len(arr) + n):]
    pos, n = numbers.as_int(values[1]), numbers.as_int(values[2])
    if n <= 0:
        raise StoreError(28729, f"Third argument to $slice must be positive: {n}")
    if pos < 0:
        pos = max(0, len(arr) + pos)
    return arr[pos:pos + n]


@simple("$range", (2, 3))
def _range(values: list, collation: Any) -> list:
    names = ("starting value", "ending value", "step value")
    ints = []
    for i, v in enumerate(values):
        if not numbers.is_number(v):
            raise StoreError(34443 + 2 * i, f"$range requires a numeric {names[i]}, found value "
                             f"of type: {_describe(v)}")
        if not numbers.is_integral(v):
            raise StoreError(34444 + 2 * i, f"$range requires a {names[i]} that can be "
                             "represented as a 32-bit integer")
        ints.append(numbers.as_int(v))
    step = ints[2] if len(ints) > 2 else 1
    if step == 0:
        raise StoreError(34449, "$range requires a non-zero step value")
    return list(range(ints[0], ints[1], step))


@named("$zip", ("inputs",), ("useLongestLength", "defaults"))
def _zip(args: dict, collation: Any) -> Any:
    inputs = args["inputs"]
    if not isinstance(inputs, list):
        raise StoreError(34461, "inputs must be an array of expressions")
    arrays = []
    for v in inputs:
        if nullish(v):
            return None
        if not isinstance(v, list):
            raise StoreError(34468, f"$zip found a non-array expression in input: {v!r}")
        arrays.append(v)
    longest = args["useLongestLength"]
    longest = False if longest is MISSING else longest
    if type(longest) is not bool:
        raise StoreError(34463, "useLongestLength must be a bool")
    defaults = args["defaults"]
    if defaults is not MISSING:
        if not longest:
            raise StoreError(34466, "cannot specify defaults unless useLongestLength is true")
        if not isinstance(defaults, list) or len(defaults) != len(arrays):
            raise StoreError(34465, "defaults and inputs must have the same length")
    else:
        defaults = [None] * len(arrays)
    if not arrays:
        return []
    n = max(map(len, arrays)) if longest else min(map(len, arrays))
    return [[a[i] if i < len(a) else defaults[j] for j, a in enumerate(arrays)]
            for i in range(n)]


@simple("$arrayToObject", 1)
def _array_to_object(values: list, collation: Any) -> Any:
    arr = values[0]
    if nullish(arr):
        return None
    if not isinstance(arr, list):
        raise StoreError(40386, f"$arrayToObject requires an array input, found: "
                         f"{_describe(arr)}")
    out: dict = {}
    if not arr:
        return out
    pairs = isinstance(arr[0], list)
    for item in arr:
        if pairs:
            if not isinstance(item, list) or len(item) != 2:
                raise StoreError(40397, "$arrayToObject requires an array of size 2 arrays")
            k, v = item
        else:
            if not isinstance(item, Mapping) or set(item) != {"k", "v"}:
                raise StoreError(40392, "$arrayToObject requires an object keys of 'k' and 'v'")
            k, v = item["k"], item["v"]
        if type(k) is not str:
            raise StoreError(40394, f"$arrayToObject requires a string key, found: "
                             f"{_describe(k)}")
        if "\0" in k:
            raise StoreError(4940401, "Key field cannot contain an embedded null byte")
        out[k] = v
    return out


@simple("$objectToArray", 1)
def _object_to_array(values: list, collation: Any) -> Any:
    obj = values[0]
    if nullish(obj):
        return None
    if not isinstance(obj, Mapping):
        raise StoreError(40390, f"$objectToArray requires a document input, found: "
                         f"{_describe(obj)}")
    return [{"k": k, "v": v} for k, v in obj.items()]


def _iteration(name: str, operand: Any, collation: Any, body_key: str,
               extra: tuple[str, ...] = ()) -> tuple[Compiled, str, Compiled, dict]:
    if not isinstance(operand, Mapping):
        raise StoreError(FAILED_TO_PARSE, f"{name} only supports an object as its argument")
    allowed = ("input", "as", body_key) + extra
    for key in operand:
        if key not in allowed:
            raise StoreError(FAILED_TO_PARSE, f"Unrecognized parameter to {name}: {key}")
    for key in ("input", body_key):
        if key not in operand:
            raise StoreError(FAILED_TO_PARSE, f"Missing '{key}' parameter to {name}")
    var = operand.get("as", "this")
    check_variable_name(var)
    others = {k: compile_expression(operand[k], collation) for k in extra if k in operand}
    return (compile_expression(operand["input"], collation), var,
            compile_expression(operand[body_key], collation), others)


@special("$map")
def _map(operand: Any, collation: Any) -> Compiled:
    source, var, body, _ = _iteration("$map", operand, collation, "in")

    def map_(scope: Scope) -> Any:
        arr = source(scope)
        if nullish(arr):
            return None
        if not isinstance(arr, list):
            raise StoreError(16883, f"input to $map must be an array not {_describe(arr)}")
        inner = dict(scope)
        out = []
        for e in arr:
            inner[var] = e
            v = body(inner)
            out.append(None if v is MISSING else v)
        return out
    return map_


@special("$filter")
def _filter(operand: Any, collation: Any) -> Compiled:
    source, var, cond, others = _iteration("$filter", operand, collation, "cond", ("limit",))
    limit_fn = others.get("limit")

    def filter_(scope: Scope) -> Any:
        arr = source(scope)
        if nullish(arr):
            return None
        if not isinstance(arr, list):
            raise StoreError(28651, f"input to $filter must be an array not {_describe(arr)}")
        limit = None
        if limit_fn is not None:
            lv = limit_fn(scope)
            if not nullish(lv):
                if not numbers.is_integral(lv):
                    raise StoreError(327391, "$filter: limit must be represented as a 32-bit "
                                     "integral value")
                limit = numbers.as_int(lv)
                if limit < 1:
                    raise StoreError(327392, "$filter: limit must be greater than 0")
        inner = dict(scope)
        out = []
        for e in arr:
            inner[var] = e
            if truthy(cond(inner)):
                out.append(e)
                if limit is not None and len(out) >= limit:
                    break
        return out
    return filter_


@special("$reduce")
def _reduce(operand: Any, collation: Any) -> Compiled:
    if not isinstance(operand, Mapping):
        raise StoreError(40075, "$reduce requires an object as an argument")
    for key in operand:
        if key not in ("input", "initialValue", "in"):
            raise StoreError(40076, f"$reduce found an unknown argument: {key}")
    for key in ("input", "initialValue", "in"):
        if key not in operand:
            raise StoreError(40077 + ("input", "initialValue", "in").index(key),
                             f"$reduce requires '{key}' to be specified")
    source = compile_expression(operand["input"], collation)
    initial = compile_expression(operand["initialValue"], collation)
    body = compile_expression(operand["in"], collation)

    def reduce_(scope: Scope) -> Any:
        arr = source(scope)
        if nullish(arr):
            return None
        if not isinstance(arr, list):
            raise StoreError(40080, f"$reduce requires that 'input' be an array, found: "
                             f"{_describe(arr)}")
        inner = dict(scope)
        acc = initial(scope)
        for e in arr:
            inner["value"] = acc
            inner["this"] = e
            acc = body(inner)
        return acc
    return reduce_


@named("$sortArray", ("input", "sortBy"))
def _sort_array(args: dict, collation: Any) -> Any:
    arr, by = args["input"], args["sortBy"]
    if nullish(arr):
        return None
    if not isinstance(arr, list):
        raise StoreError(2942504, f"The input argument to $sortArray must be an array, but was "
                         f"of type: {_describe(arr)}")
    return sort_values(arr, by, collation)


def sort_values(values: list, by: Any, collation: Any) -> list:
    """Values sorted by a ``sortBy`` of 1/-1 (whole values) or a sort document (fields of
    document values), stably, in BSON order."""
    from functools import cmp_to_key

    if by in (1, -1) and type(by) is not bool:
        sign = by
        return sorted(values, key=cmp_to_key(lambda a, b: sign * compare(a, b, collation)))
    if not isinstance(by, Mapping) or not by:
        raise StoreError(2942505, "$sortArray requires sortBy to be 1, -1 or a sort document")
    from . import query

    return query.sort_documents(values, by, collation)


def _n_arg(name: str, value: Any) -> int:
    if not numbers.is_integral(value):
        raise StoreError(5787902, f"Value for 'n' must be of integral type, but found "
                         f"{value!r}")
    n = numbers.as_int(value)
    if n <= 0:
        raise StoreError(5787908, f"'n' must be greater than 0, found {n}")
    return n


def _array_n(name: str) -> None:
    @named(name, ("input", "n"))
    def run(args: dict, collation: Any) -> Any:
        arr, n = args["input"], _n_arg(name, args["n"])
        if nullish(arr):
            return None
        if not isinstance(arr, list):
            raise StoreError(5788200, f"Input must be an array for {name}")
        if name == "$firstN":
            return arr[:n]
        if name == "$lastN":
            return arr[-n:]
        kept = [v for v in arr if not nullish(v)]
        from functools import cmp_to_key

        sign = -1 if name == "$maxN" else 1
        return sorted(kept, key=cmp_to_key(lambda a, b: sign * compare(a, b, collation)))[:n]


for _name in ("$firstN", "$lastN", "$maxN", "$minN"):
    _array_n(_name)


# Sets ---------------------------------------------------------------------------------

def _set_args(name: str, values: list, code: int, allow_null: bool = True) -> list | None:
    for v in values:
        if nullish(v):
            if allow_null:
                return None
            raise StoreError(code, f"All operands of {name} must be arrays. One argument is of "
                             f"type: {_describe(v)}")
        if not isinstance(v, list):
            raise StoreError(code, f"All operands of {name} must be arrays. One argument is of "
                             f"type: {_describe(v)}")
    return values


@simple("$setUnion")
def _set_union(values: list, collation: Any) -> Any:
    arrays = _set_args("$setUnion", values, 17043)
    return None if arrays is None else unique_values([v for a in arrays for v in a], collation)


@simple("$setIntersection")
def _set_intersection(values: list, collation: Any) -> Any:
    arrays = _set_args("$setIntersection", values, 17047)
    if arrays is None:
        return None
    if not arrays:
        return []
    result = unique_values(arrays[0], collation)
    for a in arrays[1:]:
        result = [v for v in result if any(values_equal(v, w, collation) for w in a)]
    return result


@simple("$setDifference", 2)
def _set_difference(values: list, collation: Any) -> Any:
    arrays = _set_args("$setDifference", values, 17048)
    if arrays is None:
        return None
    a, b = arrays
    return [v for v in unique_values(a, collation)
            if not any(values_equal(v, w, collation) for w in b)]


@simple("$setEquals")
def _set_equals(values: list, collation: Any) -> bool:
    if len(values) < 2:
        raise StoreError(17045, "$setEquals needs at least two arguments")
    arrays = _set_args("$setEquals", values, 17044, allow_null=False)
    first = unique_values(arrays[0], collation)
    for other in arrays[1:]:
        o = unique_values(other, collation)
        if len(o) != len(first) or not all(any(values_equal(v, w, collation) for w in o)
                                           for v in first):
            return False
    return True


@simple("$setIsSubset", 2)
def _set_is_subset(values: list, collation: Any) -> bool:
    a, b = values
    if not isinstance(a, list):
        raise StoreError(17046, f"both operands of $setIsSubset must be arrays. First argument "
                         f"is of type: {_describe(a)}")
    if not isinstance(b, list):
        raise StoreError(17042, f"both operands of $setIsSubset must be arrays. Second argument "
                         f"is of type: {_describe(b)}")
    return all(any(values_equal(v, w, collation) for w in b) for v in a)


@simple("$anyElementTrue", 1)
def _any_true(values: list, collation: Any) -> bool:
    arr = values[0]
    if not isinstance(arr, list):
        raise StoreError(17041, f"$anyElementTrue's argument must be an array, but is "
                         f"{_describe(arr)}")
    return any(truthy(v) for v in arr)


@simple("$allElementsTrue", 1)
def _all_true(values: list, collation: Any) -> bool:
    arr = values[0]
    if not isinstance(arr, list):
        raise StoreError(17040, f"$allElementsTrue's argument must be an array, but is "
                         f"{_describe(arr)}")
    return all(truthy(v) for v in arr)


# ---------------------------------------------------------------------------------------
# Objects

@simple("$mergeObjects")
def _merge_objects(values: list, collation: Any) -> dict:
    out: dict = {}
    for v in values:
        merge_object_into(out, v)
    return out


def merge_object_into(target: dict, value: Any) -> None:
    """``$mergeObjects`` of one more value: null/missing ignored, a document's fields
    overwrite, anything else is StoreError 40400."""
    if nullish(value):
        return
    if not isinstance(value, Mapping):
        raise StoreError(40400, f"$mergeObjects requires object inputs, but input "
                         f"{value!r} is of type {_describe(value)}")
    target.update(value)


def _field_name_arg(name: str, operand: Mapping) -> str:
    field = operand["field"]
    if isinstance(field, Mapping) and set(field) == {"$literal"}:
        field = field["$literal"]
    if type(field) is not str:
        raise StoreError(3041704 if name == "$getField" else 4161106,
                         f"{name} requires 'field' to evaluate to a constant string")
    return field


@special("$getField")
def _get_field(operand: Any, collation: Any) -> Compiled:
    if not isinstance(operand, Mapping) or (operand and next(iter(operand)).startswith("$")):
        operand = {"field": operand}
    for key in operand:
        if key not in ("field", "input"):
            raise StoreError(3041701, f"$getField received an unknown argument: {key}")
    if "field" not in operand:
        raise StoreError(3041702, "$getField requires 'field' to be specified")
    field = _field_name_arg("$getField", operand)
    source = compile_expression(operand.get("input", "$$CURRENT"), collation)

    def get_field(scope: Scope) -> Any:
        obj = source(scope)
        if nullish(obj):
            return None
        if not isinstance(obj, Mapping):
            raise StoreError(3041705, "$getField requires 'input' to evaluate to type Object, "
                             f"but got {_describe(obj)}")
        return obj.get(field, MISSING)
    return get_field


def _set_or_unset_field(name: str, operand: Any, collation: Any, unset: bool) -> Compiled:
    allowed = ("field", "input") if unset else ("field", "input", "value")
    if not isinstance(operand, Mapping):
        raise StoreError(4161100, f"{name} only supports an object as its argument")
    for key in operand:
        if key not in allowed:
            raise StoreError(4161101, f"{name} received an unknown argument: {key}")
    for key in allowed:
        if key not in operand:
            raise StoreError(4161102, f"{name} requires '{key}' to be specified")
    field = _field_name_arg(name, operand)
    source = compile_expression(operand["input"], collation)
    value_fn = None if unset else compile_expression(operand["value"], collation)

    def run(scope: Scope) -> Any:
        obj = source(scope)
        if nullish(obj):
            return None
        if not isinstance(obj, Mapping):
            raise StoreError(4161105, f"{name} requires 'input' to evaluate to type Object")
        out = dict(obj)
        value = MISSING if value_fn is None else value_fn(scope)
        if value is MISSING:
            out.pop(field, None)
        else:
            out[field] = value
        return out
    return run


@special("$setField")
def _set_field(operand: Any, collation: Any) -> Compiled:
    return _set_or_unset_field("$setField", operand, collation, False)


@special("$unsetField")
def _unset_field(operand: Any, collation: Any) -> Compiled:
    return _set_or_unset_field("$unsetField", operand, collation, True)


# ---------------------------------------------------------------------------------------
# Types and conversion

@simple("$type", 1)
def _type(values: list, collation: Any) -> str:
    return type_name(values[0])


@simple("$isNumber", 1)
def _is_number(values: list, collation: Any) -> bool:
    return numbers.is_number(values[0])


_TYPE_ALIASES = {1: "double", 2: "string", 7: "objectId", 8: "bool", 9: "date", 16: "int",
                 18: "long", 19: "decimal"}
_INT_RANGE = {"int": (numbers.INT32_MIN, numbers.INT32_MAX),
              "long": (numbers.INT64_MIN, numbers.INT64_MAX)}


def convert(value: Any, to: str) -> Any:
    """``$convert`` of a non-null value to the type named ``to``; StoreError 241
    (ConversionFailure) when MongoDB cannot convert it."""
    src = type_name(value)

    def fail(detail: str = "") -> StoreError:
        return _error(CONVERSION_FAILURE, f"Unsupported conversion from {src} to {to} in "
                          f"$convert with no onError value{detail}", "ConversionFailure")

    if to == "string":
        if src in ("bool", "int", "long", "double", "decimal", "string", "objectId", "date"):
            return to_string(value)
        raise fail()
    if to == "bool":
        if src in ("bool",):
            return value
        if numbers.is_number(value):
            return truthy(value)
        if src in ("minKey", "maxKey", "undefined"):
            raise fail()
        return True
    if to in ("int", "long"):
        low, high = _INT_RANGE[to]
        wrap = int if to == "int" else Int64
        if src == "bool":
            return wrap(1 if value else 0)
        if src in ("int", "long"):
            if not low <= value <= high:
                raise _error(CONVERSION_FAILURE, f"Conversion would overflow target type in "
                                 f"$convert with no onError value: {value}", "ConversionFailure")
            return wrap(int(value))
        if src in ("double", "decimal"):
            d = numbers.to_decimal(value) if src == "decimal" else value
            if (src == "double" and not math.isfinite(value)) or \
                    (src == "decimal" and not d.is_finite()):
                raise _error(CONVERSION_FAILURE, "Attempt to convert NaN or infinity value "
                                 f"to integer type in $convert with no onError value: {value}",
                                 "ConversionFailure")
            truncated = int(d)
            if not low <= truncated <= high:
                raise _error(CONVERSION_FAILURE, f"Conversion would overflow target type in "
                                 f"$convert with no onError value: {value}", "ConversionFailure")
            return wrap(truncated)
        if src == "date" and to == "long":
            return Int64(dates.to_millis(value))
        if src == "string":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise _error(CONVERSION_FAILURE, f"Failed to parse number '{value}' in "
                                 "$convert with no onError value", "ConversionFailure")
            number = int(value)
            if not low <= number <= high:
                raise _error(CONVERSION_FAILURE, f"Failed to parse number '{value}' in "
                                 "$convert with no onError value: Overflow",
                                 "ConversionFailure")
            return wrap(number)
        raise fail()
    if to == "double":
        if src == "bool":
            return 1.0 if value else 0.0
        if src in ("int", "long", "double"):
            return float(value)
        if src == "decimal":
            d = value.to_decimal()
            f = float(d)
            if d.is_finite() and math.isinf(f):
                raise _error(CONVERSION_FAILURE, "Conversion would overflow target type in "
                                 f"$convert with no onError value: {value}", "ConversionFailure")
            return f
        if src == "date":
            return float(dates.to_millis(value))
        if src == "string":
            return _parse_double(value)
        raise fail()
    if to == "decimal":
        if src == "bool":
            return Decimal128("1" if value else "0")
        if src in ("int", "long"):
            return Decimal128(str(int(value)))
        if src == "double":
            return numbers.make_decimal(numbers.to_decimal(value))
        if src == "decimal":
            return value
        if src == "date":
            return Decimal128(str(dates.to_millis(value)))
        if src == "string":
            try:
                if not re.fullmatch(r"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|"
                                    r"[Ii]nf(inity)?|NaN)\s*", value):
                    raise ValueError(value)
                return numbers.make_decimal(Decimal(value.strip()))
            except (ValueError, ArithmeticError):
                raise _error(CONVERSION_FAILURE, f"Failed to parse number '{value}' in "
                                 "$convert with no onError value", "ConversionFailure") from None
        raise fail()
    if to == "date":
        if src == "date":
            return value
        if src in ("long", "double", "decimal"):
            d = numbers.to_decimal(value)
            if not d.is_finite():
                raise _error(CONVERSION_FAILURE, "Conversion would overflow target type in "
                                 f"$convert with no onError value: {value}", "ConversionFailure")
            return dates.from_millis(int(d))
        if src in ("timestamp", "objectId"):
            return dates.from_millis(dates.to_millis(value))
        if src == "string":
            return dates.from_millis(dates.parse_date(value, None, None))
        raise fail()
    if to == "objectId":
        if src == "objectId":
            return value
        if src == "string":
            if not re.fullmatch(r"[0-9a-fA-F]{24}", value):
                raise _error(CONVERSION_FAILURE, f"Failed to parse objectId '{value}' in "
                                 "$convert with no onError value: Invalid string length for "
                                 "parsing to OID, expected 24 but found "
                                 f"{len(value)}", "ConversionFailure")
            return ObjectId(value)
        raise fail()
    raise StoreError(BAD_VALUE, f"Unknown type name: {to}")


def _parse_double(text: str) -> float:
    if re.fullmatch(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)", text):
        return float(text)
    special_values = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
                      "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
                      "nan": math.nan, "+nan": math.nan, "-nan": math.nan}
    if text.lower() in special_values:
        return special_values[text.lower()]
    raise _error(CONVERSION_FAILURE, f"Failed to parse number '{text}' in $convert with no "
                     "onError value", "ConversionFailure")


def _target_type(to: Any) -> str:
    if type(to) is str:
        if to not in ("double", "string", "objectId", "bool", "date", "int", "long", "decimal"):
            if to in ("object", "array", "binData", "null", "regex", "javascript", "timestamp",
                      "minKey", "maxKey", "undefined", "symbol", "dbPointer",
                      "javascriptWithScope"):
                raise not_supported(f"$convert to {to}")
            raise StoreError(BAD_VALUE, f"Unknown type name: {to}")
        return to
    if numbers.is_integral(to):
        code = numbers.as_int(to)
        if code in _TYPE_ALIASES:
            return _TYPE_ALIASES[code]
        raise StoreError(BAD_VALUE, f"In $convert, numeric value for 'to' does not correspond to "
                         f"a supported BSON type: {to}")
    raise StoreError(BAD_VALUE, f"$convert's 'to' argument must be a string or number, but is "
                     f"{_describe(to)}")


@special("$convert")
def _convert(operand: Any, collation: Any) -> Compiled:
    if not isinstance(operand, Mapping):
        raise StoreError(FAILED_TO_PARSE, "$convert expects an object of named arguments but "
                         f"found: {_describe(operand)}")
    for key in operand:
        if key not in ("input", "to", "onError", "onNull"):
            raise StoreError(FAILED_TO_PARSE, f"$convert found an unknown argument: {key}")
    if "input" not in operand:
        raise StoreError(FAILED_TO_PARSE, "Missing 'input' parameter to $convert")
    if "to" not in operand:
        raise StoreError(FAILED_TO_PARSE, "Missing 'to' parameter to $convert")
    source = compile_expression(operand["input"], collation)
    to_fn = compile_expression(operand["to"], collation)
    on_error = compile_expression(operand["onError"], collation) if "onError" in operand else None
    on_null = compile_expression(operand["onNull"], collation) if "onNull" in operand else None

    def run(scope: Scope) -> Any:
        to = to_fn(scope)
        value = source(scope)
        if nullish(to):
            return None
        target = _target_type(to)
        if nullish(value):
            return None if on_null is None else on_null(scope)
        if on_error is None:
            return convert(value, target)
        try:
            return convert(value, target)
        except StoreError as exc:
            if exc.code != CONVERSION_FAILURE:
                raise
            return on_error(scope)
    return run


def _to_type(name: str, target: str) -> None:
    @simple(name, 1)
    def run(values: list, collation: Any) -> Any:
        v = values[0]
        if nullish(v):
            return None
        return convert(v, target)


for _name, _target in (("$toString", "string"), ("$toBool", "bool"), ("$toInt", "int"),
                       ("$toLong", "long"), ("$toDouble", "double"), ("$toDecimal", "decimal"),
                       ("$toDate", "date"), ("$toObjectId", "objectId")):
    _to_type(_name, _target)


@simple("$bsonSize", 1)
def _bson_size(values: list, collation: Any) -> Any:
    v = values[0]
    if nullish(v):
        return None
    if not isinstance(v, Mapping):
        raise StoreError(31393, f"$bsonSize requires a document input, found: {_describe(v)}")
    from .codec import encode

    return len(encode(dict(v)))


@simple("$binarySize", 1)
def _binary_size(values: list, collation: Any) -> Any:
    v = values[0]
    if nullish(v):
        return None
    if type(v) is str:
        return len(v.encode())
    if isinstance(v, (bytes, Binary)):
        return len(v)
    raise StoreError(51276, f"$binarySize requires a string or BinData argument, found: "
                     f"{_describe(v)}")


def _timestamp_part(name: str, part: str) -> None:
    @simple(name, 1)
    def run(values: list, collation: Any) -> Any:
        v = values[0]
        if nullish(v):
            return None
        if type(v) is not Timestamp:
            raise StoreError(5687301, f"Argument to {name} must be a timestamp, but is "
                             f"{_describe(v)}")
        return Int64(v.time if part == "time" else v.inc)


_timestamp_part("$tsSecond", "time")
_timestamp_part("$tsIncrement", "inc")


# ---------------------------------------------------------------------------------------
# Dates

def _date_ms(name: str, value: Any) -> int:
    ms = dates.to_millis(value)
    if ms is None:
        raise StoreError(16006, f"can't convert from BSON type {type_name(value)} to Date")
    return ms


def _date_part(name: str, part: str) -> None:
    @special(name)
    def build(operand: Any, collation: Any) -> Compiled:
        if isinstance(operand, Mapping) and operand and "date" in operand \
                and not next(iter(operand)).startswith("$"):
            for key in operand:
                if key not in ("date", "timezone"):
                    raise StoreError(40535, f"unrecognized option to {name}: \"{key}\"")
            date_fn = compile_expression(operand["date"], collation)
            tz_fn = compile_expression(operand.get("timezone"), collation)
        else:
            args = _arg_list(operand)
            _check_arity(name, args, 1)
            date_fn = compile_expression(args[0], collation)
            tz_fn = None

        def run(scope: Scope) -> Any:
            value = date_fn(scope)
            if nullish(value):
                return None
            tz_value = None if tz_fn is None else tz_fn(scope)
            if tz_fn is not None and tz_value is None:
                return None
            tz = dates.parse_timezone(tz_value)
            return dates.parts(_date_ms(name, value), tz)[part]
        return run


for _part in ("year", "month", "dayOfMonth", "hour", "minute", "second", "millisecond",
              "dayOfYear", "dayOfWeek", "week", "isoWeekYear", "isoWeek", "isoDayOfWeek"):
    _date_part("$" + _part, _part)


def _timezone(value: Any) -> dt.tzinfo:
    return dates.parse_timezone(None if value is MISSING else value)


@named("$dateToString", ("date",), ("format", "timezone", "onNull"))
def _date_to_string(args: dict, collation: Any) -> Any:
    value = args["date"]
    if nullish(value):
        return None if args["onNull"] is MISSING else args["onNull"]
    fmt = args["format"]
    if fmt is None or args["timezone"] is None:
        return None
    if fmt is MISSING:
        # the default has a 'Z' only for UTC (MongoDB 7.0 docs, $dateToString "format")
        tz_value = args["timezone"]
        utc = tz_value is MISSING or tz_value in ("UTC", "GMT", "Etc/UTC", "+00:00", "+0000",
                                                   "+00")
        fmt = "%Y-%m-%dT%H:%M:%S.%LZ" if utc else "%Y-%m-%dT%H:%M:%S.%L"
    elif type(fmt) is not str:
        raise StoreError(18533, f"$dateToString requires that 'format' be a string, found: "
                         f"{_describe(fmt)}")
    return dates.format_date(_date_ms("$dateToString", value), fmt, _timezone(args["timezone"]))


@special("$dateFromString")
def _date_from_string(operand: Any, collation: Any) -> Compiled:
    keys = ("dateString", "format", "timezone", "onError", "onNull")
    if not isinstance(operand, Mapping):
        raise StoreError(40540, "$dateFromString only supports an object as an argument")
    for key in operand:
        if key not in keys:
            raise StoreError(40541, f"Unrecognized argument to $dateFromString: {key}")
    if "dateString" not in operand:
        raise StoreError(40542, "Missing 'dateString' parameter to $dateFromString")
    compiled = {k: compile_expression(v, collation) for k, v in operand.items()}

    def run(scope: Scope) -> Any:
        text = compiled["dateString"](scope)
        fmt = compiled["format"](scope) if "format" in compiled else MISSING
        tz_value = compiled["timezone"](scope) if "timezone" in compiled else MISSING
        if fmt is None or tz_value is None:
            return None
        if nullish(text):
            return compiled["onNull"](scope) if "onNull" in compiled else None
        try:
            if type(text) is not str:
                raise _error(CONVERSION_FAILURE, f"$dateFromString requires that "
                                 f"'dateString' be a string, found: {_describe(text)} with "
                                 f"value {text!r}", "ConversionFailure")
            if fmt is not MISSING and type(fmt) is not str:
                raise StoreError(40684, "$dateFromString requires that 'format' be a string")
            tz = None if tz_value is MISSING else dates.parse_timezone(tz_value)
            return dates.from_millis(dates.parse_date(text, None if fmt is MISSING else fmt,
                                                      tz))
        except StoreError as exc:
            if "onError" in compiled and exc.code == CONVERSION_FAILURE:
                return compiled["onError"](scope)
            raise
    return run


_PART_NAMES = ("year", "month", "day", "hour", "minute", "second", "millisecond")
_ISO_PART_NAMES = ("isoWeekYear", "isoWeek", "isoDayOfWeek", "hour", "minute", "second",
                   "millisecond")


@special("$dateFromParts")
def _date_from_parts(operand: Any, collation: Any) -> Compiled:
    if not isinstance(operand, Mapping):
        raise StoreError(40519, "$dateFromParts only supports an object as its argument")
    for key in operand:
        if key not in _PART_NAMES + _ISO_PART_NAMES + ("timezone",):
            raise StoreError(40518, f"Unrecognized argument to $dateFromParts: {key}")
    iso = "isoWeekYear" in operand
    if iso and any(k in operand for k in ("year", "month", "day")):
        raise StoreError(40489, "$dateFromParts does not allow mixing natural dates with ISO "
                         "dates")
    if not iso and "year" not in operand:
        raise StoreError(40516, "$dateFromParts requires either 'year' or 'isoWeekYear' to be "
                         "present")
    if not iso and any(k in operand for k in ("isoWeek", "isoDayOfWeek")):
        raise StoreError(40489, "$dateFromParts does not allow mixing natural dates with ISO "
                         "dates")
    names = _ISO_PART_NAMES if iso else _PART_NAMES
    compiled = {k: compile_expression(v, collation) for k, v in operand.items()}
    defaults = {"month": 1, "day": 1, "isoWeek": 1, "isoDayOfWeek": 1}

    def run(scope: Scope) -> Any:
        values = []
        for name in names:
            v = compiled[name](scope) if name in compiled else defaults.get(name, 0)
            if nullish(v):
                return None
            if not numbers.is_integral(v):
                raise StoreError(40515, f"'{name}' must evaluate to an integer, found "
                                 f"{_describe(v)} with value {v!r}")
            v = numbers.as_int(v)
            limit = (1, 9999) if name in ("year", "isoWeekYear") else (-32768, 32767)
            if not limit[0] <= v <= limit[1]:
                raise StoreError(31034 if name in ("year", "isoWeekYear") else 31034,
                                 f"'{name}' must evaluate to a value in the range "
                                 f"[{limit[0]}, {limit[1]}]; value {v} is not in range")
            values.append(v)
        tz_value = compiled["timezone"](scope) if "timezone" in compiled else MISSING
        if tz_value is None:
            return None
        tz = _timezone(tz_value)
        try:
            ms = (dates.from_iso_parts if iso else dates.from_parts)(*values, tz)
        except (ValueError, OverflowError) as exc:
            raise StoreError(BAD_VALUE, f"$dateFromParts: {exc}") from None
        return dates.from_millis(ms)
    return run


@named("$dateToParts", ("date",), ("timezone", "iso8601"))
def _date_to_parts(args: dict, collation: Any) -> Any:
    value = args["date"]
    if nullish(value) or args["timezone"] is None or args["iso8601"] is None:
        return None
    iso = args["iso8601"]
    if iso is not MISSING and type(iso) is not bool:
        raise StoreError(40521, "iso8601 must evaluate to a bool")
    p = dates.parts(_date_ms("$dateToParts", value), _timezone(args["timezone"]))
    if iso is True:
        keys = ("isoWeekYear", "isoWeek", "isoDayOfWeek")
    else:
        keys = ("year", "month", "dayOfMonth")
    out = {("day" if k == "dayOfMonth" else k): p[k] for k in keys}
    for k in ("hour", "minute", "second", "millisecond"):
        out[k] = p[k]
    return out


def _unit(name: str, value: Any) -> str:
    if type(value) is not str or value not in dates.UNITS:
        raise StoreError(5439014 if name == "$dateTrunc" else 5166401,
                         f"{name} parameter 'unit' value cannot be recognized as a time unit: "
                         f"{value!r}")
    return value


def _week_start(name: str, unit: str, value: Any) -> int:
    # startOfWeek only matters (and is only checked) for the week unit; Sunday by default
    if unit != "week" or value is MISSING:
        return dates.start_of_week("sunday")
    return dates.start_of_week(value)


@named("$dateTrunc", ("date", "unit"), ("binSize", "timezone", "startOfWeek"))
def _date_trunc(args: dict, collation: Any) -> Any:
    if any(args[k] is None for k in ("date", "unit", "binSize", "timezone")) or \
            args["date"] is MISSING:
        return None
    if args["unit"] == "week" and args["startOfWeek"] is None:
        return None
    ms = dates.to_millis(args["date"])
    if ms is None:
        raise StoreError(5439012, f"$dateTrunc requires 'date' to be a date, but got "
                         f"{_describe(args['date'])}")
    unit = _unit("$dateTrunc", args["unit"])
    bin_size = args["binSize"]
    if bin_size is MISSING:
        bin_size = 1
    elif not numbers.is_integral(bin_size) or numbers.as_int(bin_size) <= 0:
        raise StoreError(5439017, "$dateTrunc requires 'binSize' to be a 64-bit integer "
                         "greater than 0")
    week_start = _week_start("$dateTrunc", unit, args["startOfWeek"])
    return dates.from_millis(dates.truncate(ms, unit, numbers.as_int(bin_size),
                                            _timezone(args["timezone"]), week_start))


def _date_add(name: str, sign: int) -> None:
    @named(name, ("startDate", "unit", "amount"), ("timezone",))
    def run(args: dict, collation: Any) -> Any:
        if any(nullish(args[k]) for k in ("startDate", "unit", "amount")) or \
                args["timezone"] is None:
            return None
        ms = dates.to_millis(args["startDate"])
        if ms is None:
            raise StoreError(5166403, f"{name} requires startDate to be convertible to a date")
        unit = _unit(name, args["unit"])
        amount = args["amount"]
        if not numbers.is_integral(amount):
            raise StoreError(5166405, f"{name} expects integer amount of time units")
        return dates.from_millis(dates.add(ms, unit, sign * numbers.as_int(amount),
                                           _timezone(args["timezone"])))


_date_add("$dateAdd", 1)
_date_add("$dateSubtract", -1)


@named("$dateDiff", ("startDate", "endDate", "unit"), ("timezone", "startOfWeek"))
def _date_diff(args: dict, collation: Any) -> Any:
    if any(nullish(args[k]) for k in ("startDate", "endDate", "unit")) or \
            args["timezone"] is None or (args["unit"] == "week" and args["startOfWeek"] is None):
        return None
    start, end = dates.to_millis(args["startDate"]), dates.to_millis(args["endDate"])
    if start is None or end is None:
        raise StoreError(5166307, "$dateDiff requires startDate and endDate to be dates")
    unit = _unit("$dateDiff", args["unit"])
    week_start = _week_start("$dateDiff", unit, args["startOfWeek"])
    return Int64(dates.diff(start, end, unit, _timezone(args["timezone"]), week_start))


__all__ = [
    "MISSING", "OPERATORS", "compile_expression", "evaluate", "make_scope", "with_document",
    "type_name", "truthy", "nullish", "compare", "values_equal", "unique_values", "path_value",
    "split_path", "to_string", "convert", "average", "std_dev", "merge_object_into",
    "sort_values", "check_variable_name", "set_now",
]
