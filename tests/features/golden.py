"""Loading of the golden examples of ``tests/data/features-example`` (helpers for tests)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sf.features.state import CompanyState, FeatureParams, NafTable, company_state_from_rawdata

from ..conftest import DATA

EXAMPLES = DATA / "features-example"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def parse_dates(value: Any) -> Any:
    """ISO-8601 UTC strings → aware datetimes, recursively (the files store BSON dates as strings)."""
    if isinstance(value, str) and _ISO.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dict):
        return {k: parse_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [parse_dates(v) for v in value]
    return value


def load_input() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(params, RawData values)`` of example 1 with dates parsed."""
    data = parse_dates(json.loads((EXAMPLES / "example1_input.json").read_text()))
    return data["params"], [doc["value"] for doc in data["RawData"]]


def load_expected(name: str) -> list[dict[str, Any]]:
    """Expected Features documents of ``example1`` or ``example2``, dates parsed."""
    return parse_dates(json.loads((EXAMPLES / f"{name}_expected_features.json").read_text()))


def golden_naf(expected: list[dict[str, Any]]) -> NafTable:
    """The NAF labels the golden run used, read back from the golden documents themselves
    (the original's NAF table is not part of the test data)."""
    n5to1: dict[str, str] = {}
    tables: dict[int, dict[str, str]] = {1: {}, 2: {}, 3: {}, 4: {}, 5: {}}
    for doc in expected:
        v = doc["value"]
        ape = v.get("code_ape")
        if not ape:
            continue
        if "code_naf" in v:
            n5to1[ape] = v["code_naf"]
            if "libelle_naf" in v:
                tables[1][v["code_naf"]] = v["libelle_naf"]
        for level in (2, 3, 4, 5):
            if f"libelle_ape{level}" in v:
                tables[level][ape[:level]] = v[f"libelle_ape{level}"]
    return NafTable(n5to1, tables[1], tables[2], tables[3], tables[4], tables[5])


def months(start: datetime, end: datetime) -> list[datetime]:
    out = []
    current = start
    while current < end:
        out.append(current)
        current = current.replace(year=current.year + current.month // 12, month=current.month % 12 + 1)
    return out


def example(name: str, mode: str) -> tuple[CompanyState, list[datetime], FeatureParams, list[dict[str, Any]]]:
    """State, periods, params and expected documents of ``example1``/``example2``."""
    params, values = load_input()
    expected = load_expected(name)
    state = company_state_from_rawdata("111111111", values, params["batch"])
    start = params["date_debut"] if name == "example1" else datetime(2018, 1, 1, tzinfo=params["date_debut"].tzinfo)
    periods = months(start, params["date_fin"])
    fp = FeatureParams(batch=params["batch"], date_fin_effectif=params["date_fin_effectif"], mode=mode,  # type: ignore[arg-type]
                       naf=golden_naf(expected))
    return state, periods, fp, expected
