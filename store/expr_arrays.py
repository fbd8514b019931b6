"""Array, set and object expression operators: ``$arrayElemAt $first $last $size $isArray
$in $indexOfArray $concatArrays $reverseArray $slice $range $zip $arrayToObject
$objectToArray $map $filter $reduce $sortArray $firstN $lastN $maxN $minN``, the set
operators, and ``$mergeObjects $getField $setField $unsetField`` (MongoDB 7.0,
https://www.mongodb.com/docs/manual/reference/operator/aggregation/#array-expression-operators).

Equality of elements is BSON equality (with the collation if any), so sets deduplicate
1, 1.0 and NumberLong(1) into one element.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import numbers
from .errors import FAILED_TO_PARSE, StoreError
from .expressions import (MISSING, Compiled, Scope, check_variable_name, compare,
                          compile_expression, named, nullish, simple, special, truthy, type_name,
                          unary, unique_values, values_equal)


def _need(value: Any, kind: type, code: int, message: str) -> None:
    """Raise StoreError ``code`` with ``message`` followed by the value's type name unless
    ``value`` is a ``kind`` (an operator's argument check, with MongoDB's wording)."""
    if not isinstance(value, kind):
        raise StoreError(code, f"{message}{type_name(value)}")


def _array_or_null(value: Any, code: int, message: str) -> list | None:
    """None for a null or missing ``value``, else ``value`` if it is an array (see _need)."""
    if nullish(value):
        return None
    _need(value, list, code, message)
    return value


def _need_array(name: str, value: Any, code: int) -> list:
    _need(value, list, code, f"{name}'s argument must be an array, but is ")
    return value


@simple("$arrayElemAt", 2)
def _array_elem_at(values: list, collation: Any) -> Any:
    arr, idx = values
    if nullish(arr) or nullish(idx):
        return None
    _need_array("$arrayElemAt", arr, 28689)
    if not numbers.is_number(idx):
        raise StoreError(28690, f"$arrayElemAt's second argument must be a numeric value, but "
                         f"is {type_name(idx)}")
    if not numbers.is_integral(idx):
        raise StoreError(28691, "$arrayElemAt's second argument must be representable as a "
                         "32-bit integer")
    i = numbers.as_int(idx)
    if i < 0:
        i += len(arr)
    return arr[i] if 0 <= i < len(arr) else MISSING


def _first_last(name: str, index: int) -> None:
    @unary(name)
    def run(arr: Any) -> Any:
        _need_array(name, arr, 28689)
        return arr[index] if arr else MISSING


_first_last("$first", 0)
_first_last("$last", -1)


@simple("$size", 1)
def _size(values: list, collation: Any) -> int:
    v = values[0]
    _need(v, list, 17124, "The argument to $size must be an array. Type of argument is ")
    return len(v)


@simple("$isArray", 1)
def _is_array(values: list, collation: Any) -> bool:
    return isinstance(values[0], list)


@simple("$in", 2)
def _in(values: list, collation: Any) -> bool:
    x, arr = values
    _need(arr, list, 40081, "$in requires an array as a second argument, found: ")
    return any(compare(x, e, collation) == 0 for e in arr)


@simple("$indexOfArray", (2, 4))
def _index_of_array(values: list, collation: Any) -> Any:
    arr, x = values[0], values[1]
    if nullish(arr):
        return None
    _need(arr, list, 40090, "$indexOfArray requires an array as a first argument, found: ")
    bounds = []
    for v in values[2:]:
        if not numbers.is_integral(v):
            raise StoreError(40096, "$indexOfArray requires an integral starting index, found a "
                             f"value of type: {type_name(v)}")
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
        _need(v, list, 28664, "$concatArrays only supports arrays, not ")
        out.extend(v)
    return out


@unary("$reverseArray")
def _reverse_array(v: Any) -> Any:
    _need(v, list, 34435, "The argument to $reverseArray must be an array, but was of type: ")
    return v[::-1]


@simple("$slice", (2, 3))
def _slice(values: list, collation: Any) -> Any:
    if any(nullish(v) for v in values):
        return None
    arr = values[0]
    _need(arr, list, 28724, "First argument to $slice must be an array, but is of type: ")
    for v in values[1:]:
        if not numbers.is_integral(v):
            raise StoreError(28725, "Second argument to $slice must be a numeric value, but is "
                             f"of type: {type_name(v)}")
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
                             f"of type: {type_name(v)}")
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


@unary("$arrayToObject")
def _array_to_object(arr: Any) -> Any:
    _need(arr, list, 40386, "$arrayToObject requires an array input, found: ")
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
                             f"{type_name(k)}")
        if "\0" in k:
            raise StoreError(4940401, "Key field cannot contain an embedded null byte")
        out[k] = v
    return out


@unary("$objectToArray")
def _object_to_array(obj: Any) -> Any:
    _need(obj, Mapping, 40390, "$objectToArray requires a document input, found: ")
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
        arr = _array_or_null(source(scope), 16883, "input to $map must be an array not ")
        if arr is None:
            return None
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
        arr = _array_or_null(source(scope), 28651, "input to $filter must be an array not ")
        if arr is None:
            return None
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
        arr = _array_or_null(source(scope), 40080,
                             "$reduce requires that 'input' be an array, found: ")
        if arr is None:
            return None
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
    arr = _array_or_null(args["input"], 2942504,
                         "The input argument to $sortArray must be an array, but was of type: ")
    return None if arr is None else sort_values(arr, args["sortBy"], collation)


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
                             f"type: {type_name(v)}")
        if not isinstance(v, list):
            raise StoreError(code, f"All operands of {name} must be arrays. One argument is of "
                             f"type: {type_name(v)}")
    return values


def _set_operator(name: str, code: int, nargs: int | None = None) -> Callable:
    """Register a set operator: ``fn(arrays, collation)``, with null when an argument is null
    or missing and StoreError ``code`` for one that is not an array (see _set_args)."""

    def register(fn: Callable[[list, Any], Any]) -> Callable:
        @simple(name, nargs)
        def run(values: list, collation: Any) -> Any:
            arrays = _set_args(name, values, code)
            return None if arrays is None else fn(arrays, collation)
        return fn
    return register


@_set_operator("$setUnion", 17043)
def _set_union(arrays: list, collation: Any) -> list:
    return unique_values([v for a in arrays for v in a], collation)


@_set_operator("$setIntersection", 17047)
def _set_intersection(arrays: list, collation: Any) -> list:
    if not arrays:
        return []
    result = unique_values(arrays[0], collation)
    for a in arrays[1:]:
        result = [v for v in result if any(values_equal(v, w, collation) for w in a)]
    return result


@_set_operator("$setDifference", 17048, 2)
def _set_difference(arrays: list, collation: Any) -> list:
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
    _need(a, list, 17046, "both operands of $setIsSubset must be arrays. First argument is of type: ")
    _need(b, list, 17042, "both operands of $setIsSubset must be arrays. Second argument is of type: ")
    return all(any(values_equal(v, w, collation) for w in b) for v in a)


@simple("$anyElementTrue", 1)
def _any_true(values: list, collation: Any) -> bool:
    arr = values[0]
    _need_array("$anyElementTrue", arr, 17041)
    return any(truthy(v) for v in arr)


@simple("$allElementsTrue", 1)
def _all_true(values: list, collation: Any) -> bool:
    arr = values[0]
    _need_array("$allElementsTrue", arr, 17040)
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
                         f"{value!r} is of type {type_name(value)}")
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
        _need(obj, Mapping, 3041705, "$getField requires 'input' to evaluate to type Object, but got ")
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
