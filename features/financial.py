"""Yearly accounts of the entreprise: Banque de France ratios (§2.12; raw ``bdf``) and Diane
accounts (§2.13; raw ``diane``).

Availability (quirk Q13, point-in-time by design): a balance sheet closed in month M is usable
from ``M + 8`` for 13 months (BdF) or 14 months (Diane); ``<field>_past_1/2`` are this sheet's
values written 12 and 24 months later. Sheets are applied in record order, a later one
overwriting an earlier one on overlapping months. Diane fills ``poids_frng``, ``dette_fiscale``
and ``frais_financier`` only where no value (or explicit null) is present for the month.

The axis passed in is the period series in parity mode (values written outside it are lost,
as in the original); in fixed mode it includes the history months.
"""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Any

import numpy as np

# _NUMERIC: the types Columns.put stores as float; the fast paths must agree with it.
from .columns import _NUMERIC, Columns
from .errors import FeatureInputError
from .months import record_month

BDF_RATIOS = ("poids_frng", "taux_marge", "delai_fournisseur", "dette_fiscale", "financier_court_terme",
              "frais_financier")
BDF_FIELDS = ("arrete_bilan_bdf", "annee_bdf") + BDF_RATIOS
#: Diane fields transmitted to Features (validation schema ``diane.schema.json`` minus the
#: identity fields the original omits).
DIANE_OMITTED = ("marquee", "nom_entreprise", "numero_siren", "statut_juridique", "procedure_collective")
DIANE_FIELDS = (
    "exercice_diane", "arrete_bilan_diane", "couverture_ca_fdr", "interets", "excedent_brut_d_exploitation",
    "produits_financiers", "produit_exceptionnel", "charge_exceptionnelle", "charges_financieres", "ca",
    "concours_bancaire_courant", "valeur_ajoutee", "dette_fiscale_et_sociale", "effectif_consolide",
    "frais_de_RetD", "conces_brev_et_droits_sim", "nombre_etab_secondaire", "nombre_filiale",
    "taille_compo_groupe", "nombre_mois", "equilibre_financier", "independance_financiere", "endettement",
    "autonomie_financiere", "degre_immo_corporelle", "financement_actif_circulant", "liquidite_generale",
    "liquidite_reduite", "rotation_stocks", "credit_client", "credit_fournisseur", "ca_par_effectif",
    "taux_interet_financier", "taux_interet_sur_ca", "endettement_global", "taux_endettement",
    "capacite_remboursement", "capacite_autofinancement", "couverture_ca_besoin_fdr", "poids_bfr_exploitation",
    "exportation", "efficacite_economique", "productivite_potentiel_production", "productivite_capital_financier",
    "productivite_capital_investi", "taux_d_investissement_productif", "rentabilite_economique", "performance",
    "rendement_brut_fonds_propres", "rentabilite_nette", "rendement_capitaux_propres",
    "rendement_ressources_durables", "taux_marge_commerciale", "taux_valeur_ajoutee", "part_salaries",
    "part_etat", "part_preteur", "part_autofinancement", "ca_exportation", "achat_marchandises",
    "achat_matieres_premieres", "production", "marge_commerciale", "consommation",
    "autres_achats_charges_externes", "charge_personnel", "impots_taxes", "subventions_d_exploitation",
    "autres_produits_charges_reprises", "dotation_amortissement", "resultat_expl", "operations_commun",
    "resultat_avant_impot", "participation_salaries", "impot_benefice", "benefice_ou_perte",
)
DIANE_NO_PAST = ("arrete_bilan_diane", "exercice_diane")
YEAR_LAGS = (1, 2)
BDF_VALIDITY, DIANE_VALIDITY = 13, 14
#: Months from the closing month to the first month a sheet is usable (m(arrete) + 1 + 7).
AVAILABILITY_DELAY = 8


def _sheet_months(closing_month: int, validity: int) -> range:
    start = closing_month + AVAILABILITY_DELAY
    return range(start, start + validity)


def _window(first: int, length: int, n: int) -> slice | None:
    """Axis positions ``[first, first + length)`` clipped to ``[0, n)``; None when empty.

    A sheet writes the same value on every month of its window, so one slice assignment per
    field replaces the per-month loop of the original (same result: later sheets still
    overwrite earlier ones, field by field)."""
    lo, hi = max(first, 0), min(first + length, n)
    return slice(lo, hi) if lo < hi else None


def bdf(records: dict[str, dict[str, Any]], axis: np.ndarray, cols: Columns, where: str) -> None:
    """Write BdF fields into ``cols`` (the entreprise columns over ``axis``).

    ``exercice_bdf = annee_bdf − 1`` on the sheet's months; the caller initialises it to 0.
    A None value is written as an explicit null. Raises :class:`FeatureInputError` if a
    sheet's ``arrete_bilan_bdf`` is not a date (the sheets before it are then written).
    """
    m0, n = int(axis[0]), len(axis)
    # New numeric columns are rows of one array: one allocation instead of one per column.
    spare = np.full((len(_BDF_ROW), n), np.nan)
    for h, r in records.items():
        closing = record_month(r, "arrete_bilan_bdf", f"{where} bdf {h}")
        first = closing + AVAILABILITY_DELAY - m0
        inside = _window(first, BDF_VALIDITY, n)
        if inside is not None:
            for name in BDF_FIELDS:
                if name in r:
                    _put_slice(cols, name, inside, r[name], spare)
            if r.get("annee_bdf"):
                _put_slice(cols, "exercice_bdf", inside, r["annee_bdf"] - 1)
        lagged = [(pasts, later) for pasts, later in
                  zip(_BDF_PASTS, (_window(first + 12 * k, BDF_VALIDITY, n) for k in YEAR_LAGS))
                  if later is not None]
        if not lagged:
            continue
        for i, name in enumerate(BDF_RATIOS):
            if name in r:
                value = r[name]
                for pasts, later in lagged:
                    _put_slice(cols, pasts[i], later, value, spare)


#: ``_BDF_PASTS[k - 1][i]`` is ``f"{BDF_RATIOS[i]}_past_{k}"`` (names built once, not per sheet).
_BDF_PASTS = tuple(tuple(f"{name}_past_{k}" for name in BDF_RATIOS) for k in YEAR_LAGS)
#: Row of each BdF numeric column in bdf's ``spare`` array.
_BDF_ROW = {name: i for i, name in enumerate(BDF_FIELDS[1:] + _BDF_PASTS[0] + _BDF_PASTS[1])}
_FLOAT = np.dtype(np.float64)


def _put_slice(cols: Columns, name: str, where: slice | np.ndarray, value: object,
               spare: np.ndarray | None = None) -> None:
    """``cols.put(name, where, value)``, the common case (a number into a float column, created
    if missing, as a row of ``spare`` when given) done inline: same result without
    :meth:`Columns.put`'s dispatch."""
    if value is not None and isinstance(value, _NUMERIC):
        arr = cols.values.get(name)
        if arr is None:
            row = None if spare is None else _BDF_ROW.get(name)
            arr = cols.num(name) if row is None else spare[row]
            cols.values[name] = arr
        if arr.dtype == _FLOAT:
            arr[where] = float(value)
            mask = cols.nulls.get(name)
            if mask is not None:
                mask[where] = False
            return
    cols.put(name, where, value)


def poids_frng(r: dict[str, Any]) -> float | None:
    """``couverture_ca_fdr / 360 × 100`` (poidsFrng.ts), None if the input is missing."""
    v = r.get("couverture_ca_fdr")
    return None if v is None else v / 360 * 100


def dette_fiscale(r: dict[str, Any]) -> float | None:
    """``dette_fiscale_et_sociale / valeur_ajoutee × 100`` (detteFiscale.ts)."""
    d, va = r.get("dette_fiscale_et_sociale"), r.get("valeur_ajoutee")
    return None if d is None or va is None or va == 0 else d / va * 100


_FRAIS_FINANCIER_INPUTS = ("interets", "excedent_brut_d_exploitation", "produits_financiers", "produit_exceptionnel",
                           "charge_exceptionnelle", "charges_financieres")


def frais_financier(r: dict[str, Any]) -> float | None:
    """``interets / (EBE + produits_financiers + produit_exceptionnel − charge_exceptionnelle
    − charges_financieres) × 100`` (fraisFinancier.ts), None if any input is missing."""
    values = []
    for name in _FRAIS_FINANCIER_INPUTS:  # stops at the first missing input (most sheets lack interets)
        value = r.get(name)
        if value is None:
            return None
        values.append(value)
    interets, ebe, pf, pe, ce, cf = values
    denominator = ebe + pf + pe - ce - cf
    return None if denominator == 0 else interets / denominator * 100


def taux_marge(r: dict[str, Any]) -> float | None:
    """``EBE / valeur_ajoutee × 100`` (tauxMarge.ts: tested there, not wired into Features)."""
    ebe, va = r.get("excedent_brut_d_exploitation"), r.get("valeur_ajoutee")
    return None if ebe is None or va is None or va == 0 else ebe / va * 100


_RECOMPUTED = (("poids_frng", poids_frng), ("dette_fiscale", dette_fiscale), ("frais_financier", frais_financier))
_BDF_PAST_FROM_DIANE = ("taux_marge", "poids_frng", "dette_fiscale", "financier_court_terme", "frais_financier")


def diane(records: dict[str, dict[str, Any]], axis: np.ndarray, cols: Columns, where: str) -> None:
    """Write Diane fields, their ``_past_k`` and the recomputed BdF ratios into ``cols``.

    Sheets without ``arrete_bilan_diane`` are skipped; a None field value makes the field
    absent on the sheet's months. Raises :class:`FeatureInputError` if a sheet's
    ``arrete_bilan_diane`` is not a date, after writing the sheets before it (as the
    per-sheet loop of the original does).

    How (same result, same column order, as the original's loop of :meth:`Columns.put` per
    sheet and field): a Diane field's columns (``name``, ``name_past_1/2``) are read and
    written by no other step, so the numeric ones are rows of one block, written with one
    numpy assignment per sheet and window instead of one per field, and attached to ``cols``
    as views where the per-field writes would have created them. Fields that cannot take that
    path (a non-numeric value in some sheet, or a column already in ``cols``) are written with
    :meth:`Columns.put` / :meth:`Columns.delete` at their place. The recomputed BdF ratios
    and their ``_past_k`` follow each sheet, reading ``cols`` as the sheets so far left it.
    """
    m0, n = int(axis[0]), len(axis)
    sheets, error = _diane_sheets(records, m0, n, where)
    if sheets:
        _write_diane(sheets, cols, n)
    if error is not None:
        raise error


_DIANE_FIELD_SET = frozenset(DIANE_FIELDS)
#: Columns of a Diane field: itself then ``_past_1``, ``_past_2`` (none for DIANE_NO_PAST).
_DIANE_COLUMNS = {name: (name,) if name in DIANE_NO_PAST else (name,) + tuple(f"{name}_past_{k}" for k in YEAR_LAGS)
                  for name in DIANE_FIELDS}
_FIELD_OF_COLUMN = {column: name for name, columns in _DIANE_COLUMNS.items() for column in columns}
_ATTACH, _REPLAY = 0, 1
_LAGS = 1 + len(YEAR_LAGS)
_CACHE_LIMIT = 10_000
#: One sheet: (record, windows of its own months and 12, 24 months later, which windows exist).
_Sheet = tuple[dict[str, Any], tuple[slice | None, ...], tuple[bool, ...]]


def _diane_sheets(records: dict[str, dict[str, Any]], m0: int, n: int,
                  where: str) -> tuple[list[_Sheet], Exception | None]:
    """The dated sheets in record order with their windows, and the error of the first sheet
    whose date is bad (the sheets after it are not returned: the original stops there)."""
    sheets: list[_Sheet] = []
    for h, r in records.items():
        if not r.get("arrete_bilan_diane"):
            continue
        try:
            closing = record_month(r, "arrete_bilan_diane", f"{where} diane {h}")
        except FeatureInputError as exc:
            return sheets, exc
        first = closing + AVAILABILITY_DELAY - m0
        known = _WINDOWS.get((first, n))
        if known is None:
            windows = tuple(_window(first + 12 * k, DIANE_VALIDITY, n) for k in (0,) + YEAR_LAGS)
            known = (windows, tuple(w is not None for w in windows))
            if len(_WINDOWS) < _CACHE_LIMIT:
                _WINDOWS[(first, n)] = known
        sheets.append((r, *known))
    return sheets, None


#: Windows of a sheet by (first month on the axis, axis length): few distinct pairs per run.
_WINDOWS: dict[tuple[int, int], tuple[tuple[slice | None, ...], tuple[bool, ...]]] = {}


class _Plan:
    """How one sheet shape (its keys, and the type of each Diane value) is written.

    Sheets of a delivery share few shapes, so this is computed once per shape and cached.
    ``numbers``: the fields with a number, those with ``_past_k`` first (``past`` of them),
    read in that order by ``take``; ``deleted``: fields with None; ``other`` / ``replayed``:
    fields with another value (written through :class:`Columns`), as a set / in record
    order; ``steps_for(pattern)``: for the windows that exist, the per-field writes in record
    order, ``(_ATTACH, column, field, k)`` or ``(_REPLAY, field)``.
    """

    __slots__ = (
        "deleted",
        "deleted_set",
        "fields",
        "number_set",
        "numbers",
        "other",
        "past",
        "replayed",
        "segments",
        "steps",
        "take",
    )

    def __init__(self, fields: tuple[str, ...], kinds: tuple[int, ...]) -> None:
        self.fields = fields
        numbers = [f for f, kind in zip(fields, kinds) if kind == _NUM]
        with_past = [f for f in numbers if f not in DIANE_NO_PAST]
        self.numbers = tuple(with_past + [f for f in numbers if f in DIANE_NO_PAST])
        self.past = len(with_past)
        self.number_set = frozenset(numbers)
        getter = itemgetter(*self.numbers) if numbers else None
        self.take = (lambda r: (getter(r),)) if len(numbers) == 1 else getter  # type: ignore[misc]
        self.deleted = tuple(f for f, kind in zip(fields, kinds) if kind == _NONE)
        self.deleted_set = frozenset(self.deleted)
        self.replayed = tuple(f for f, kind in zip(fields, kinds) if kind == _OTHER)
        self.other = frozenset(self.replayed)
        self.steps: dict[tuple[bool, ...], tuple[tuple, ...]] = {}
        self.segments: dict[tuple[bool, ...], tuple[tuple, ...]] = {}

    def segments_for(self, pattern: tuple[bool, ...]) -> tuple[tuple, ...]:
        """:meth:`steps_for` with consecutive attaches grouped as ``(_ATTACH, columns, rows)``,
        ``rows`` in a block whose slots are this plan's ``numbers`` (flattened ``slot × k``):
        the first sheet attaches them with one ``dict.update`` per group."""
        segments = self.segments.get(pattern)
        if segments is None:
            out: list[tuple] = []
            position = {name: i for i, name in enumerate(self.numbers)}
            for step in self.steps_for(pattern):
                if step[0] == _REPLAY:
                    out.append(step)
                    continue
                if not out or out[-1][0] != _ATTACH:
                    out.append((_ATTACH, [], []))
                out[-1][1].append(step[1])
                out[-1][2].append(position[step[2]] * _LAGS + step[3])
            segments = self.segments[pattern] = tuple(
                (kind, *(tuple(part) for part in rest)) if kind == _ATTACH else (kind, *rest)
                for kind, *rest in out)
        return segments

    def steps_for(self, pattern: tuple[bool, ...]) -> tuple[tuple, ...]:
        steps = self.steps.get(pattern)
        if steps is None:
            out: list[tuple] = []
            for name in self.fields:
                if name in self.other:
                    out.append((_REPLAY, name))
                elif name in self.number_set:
                    out.extend((_ATTACH, column, name, k) for k, column in enumerate(_DIANE_COLUMNS[name])
                               if pattern[k])
            steps = self.steps[pattern] = tuple(out)
        return steps


_NUM, _NONE, _OTHER = 0, 1, 2
#: Diane fields of a sheet (in key order) by the sheet's keys; plans by fields and value types.
_FIELDS_OF: dict[tuple[str, ...], tuple[tuple[str, ...], Any]] = {}
_PLANS: dict[tuple[tuple[str, ...], tuple[type, ...]], _Plan] = {}


def _plan(r: dict[str, Any]) -> _Plan:
    """The cached :class:`_Plan` of the sheet ``r``."""
    keys = tuple(r)
    known = _FIELDS_OF.get(keys)
    if known is None:
        fields = tuple(k for k in keys if k in _DIANE_FIELD_SET)
        values = itemgetter(*fields) if len(fields) > 1 else (lambda r, f=fields: tuple(r[k] for k in f))
        known = (fields, values)
        if len(_FIELDS_OF) < _CACHE_LIMIT:
            _FIELDS_OF[keys] = known
    fields, values = known
    types = tuple(map(type, values(r)))
    plan = _PLANS.get((fields, types))
    if plan is None:
        kinds = tuple(_NONE if t is type(None) else _NUM if issubclass(t, _NUMERIC) else _OTHER for t in types)
        plan = _Plan(fields, kinds)
        if len(_PLANS) < _CACHE_LIMIT:
            _PLANS[(fields, types)] = plan
    return plan


def _write_diane(sheets: list[_Sheet], cols: Columns, n: int) -> None:
    """Apply the sheets in order. The numeric Diane fields go to one block (rows ``slot × k``),
    whose rows are attached to ``cols`` as views when a sheet first creates the column, in the
    per-field order; a field written through :class:`Columns` instead (``replay``: it has a
    non-numeric value in some sheet, or one of its columns was already in ``cols``, which the
    block would not reproduce) is written at its place in that order. After each sheet's
    fields come its recomputed ratios and their ``_past_k``."""
    plans = [_plan(r) for r, _, _ in sheets]
    values = cols.values
    replay = {_FIELD_OF_COLUMN[c] for c in (values.keys() | cols.nulls.keys()) & _FIELD_OF_COLUMN.keys()}
    # Slots in the order of the plans' numbers: the first plan's numbers are rows 0..m-1, so
    # its sheets (usually all of them) are written with slices, not fancy indexing.
    slot: dict[str, int] = {}
    rows_of: dict[int, tuple[Any, Any, Any]] = {}
    for plan in plans:
        replay |= plan.other
        if id(plan) not in rows_of:
            for name in plan.numbers + plan.deleted:
                slot.setdefault(name, len(slot))
            rows_of[id(plan)] = (_rows(slot, plan.numbers), _rows(slot, plan.numbers[:plan.past]),
                                 _rows(slot, plan.deleted))
    block = np.full((len(slot), _LAGS, n), np.nan)
    done: dict[int, tuple[bool, ...]] = {}  # plan -> windows its columns were created for
    ratios = _ratio_columns(sheets, cols, n)
    for index, ((r, windows, pattern), plan) in enumerate(zip(sheets, plans)):
        inside = windows[0]
        if replay.isdisjoint(plan.number_set) and replay.isdisjoint(plan.deleted_set):
            numbers, past, deleted = rows_of[id(plan)]
            if plan.numbers:
                filled = np.array(plan.take(r), dtype=np.float64)[:, None]
                if inside is not None:
                    block[numbers, 0, inside] = filled
                if plan.past:
                    filled = filled[:plan.past]
                    for k in range(1, _LAGS):
                        if windows[k] is not None:
                            block[past, k, windows[k]] = filled
            if inside is not None and plan.deleted:
                block[deleted, 0, inside] = np.nan
            covered = done.get(id(plan))
            if not done and plan is plans[0]:
                # First sheet: no Diane column exists yet and the block's slots are this plan's
                # numbers, so its columns are attached by groups, without a test per column.
                done[id(plan)] = pattern
                views = list(block.reshape(len(slot) * _LAGS, n))
                for segment in plan.segments_for(pattern):
                    if segment[0] == _REPLAY:
                        _replay_field(cols, segment[1], r[segment[1]], windows)
                    else:
                        values.update(zip(segment[1], map(views.__getitem__, segment[2])))
            elif covered is not None and all(c or not p for c, p in zip(covered, pattern)):
                # A sheet of the same plan already created these columns: only the fields
                # written through Columns remain.
                for name in plan.replayed:
                    _replay_field(cols, name, r[name], windows)
            else:
                done[id(plan)] = pattern if covered is None else tuple(c or p for c, p in zip(covered, pattern))
                for step in plan.steps_for(pattern):
                    if step[0] == _REPLAY:
                        _replay_field(cols, step[1], r[step[1]], windows)
                    elif step[1] not in values:
                        values[step[1]] = block[slot[step[2]], step[3]]
        else:
            _general_sheet(r, windows, replay, slot, block, cols)
        if ratios is not None:
            values.update(ratios.get(index, ()))
        elif inside is not None:
            _recompute_ratios(r, inside, cols)
            _bdf_past_from_diane(inside, cols, n)


def _rows(slot: dict[str, int], names: tuple[str, ...]) -> slice | np.ndarray:
    """Block rows of ``names``: a slice when they are consecutive (basic indexing is faster)."""
    rows = [slot[name] for name in names]
    if rows and rows == list(range(rows[0], rows[0] + len(rows))):
        return slice(rows[0], rows[0] + len(rows))
    return np.array(rows, dtype=np.intp)


def _general_sheet(r: dict[str, Any], windows: tuple[slice | None, ...], replay: set[str], slot: dict[str, int],
                   block: np.ndarray, cols: Columns) -> None:
    """One sheet of :func:`_write_diane` field by field (a sheet with a replayed numeric field)."""
    for name, value in r.items():
        if name not in _DIANE_FIELD_SET:
            continue
        if name in replay:
            _replay_field(cols, name, value, windows)
            continue
        i = slot[name]
        if value is None:
            if windows[0] is not None:
                block[i, 0, windows[0]] = np.nan
            continue
        for k, column in enumerate(_DIANE_COLUMNS[name]):
            if windows[k] is not None:
                block[i, k, windows[k]] = float(value)
                if column not in cols.values:
                    cols.values[column] = block[i, k]


def _replay_field(cols: Columns, name: str, value: object, windows: tuple[slice | None, ...]) -> None:
    """A Diane field of one sheet written through :class:`Columns` (the general path)."""
    if value is None:
        if windows[0] is not None:
            cols.delete(name, windows[0])
        return
    columns = _DIANE_COLUMNS[name]
    for k in range(len(columns)):
        if windows[k] is not None:
            cols.put(columns[k], windows[k], value)


_RATIO_COLUMNS = frozenset(name for name, _ in _RECOMPUTED) | frozenset(
    f"{name}_past_{k}" for name, _ in _RECOMPUTED for k in YEAR_LAGS)
_SHIFTED = tuple(name for name in _BDF_PAST_FROM_DIANE if name in dict(_RECOMPUTED))


def _ratio_columns(sheets: list[_Sheet], cols: Columns, n: int) -> dict[int, list[tuple[str, np.ndarray]]] | None:
    """The recomputed ratios and their ``_past_k`` for all sheets at once, when no BdF ratio is
    in ``cols`` (no BdF sheet: the usual case); None otherwise, or when a formula fails or
    gives NaN (the per-sheet path then reproduces the original step by step).

    Why it is the same: with no BdF column, a ratio is only written where it has no value, so
    a month keeps the value of the first sheet (in order) that covers it with a value, and
    never loses it. The ``_past_k`` copy of a sheet's months that have a value therefore
    always copies those final values; together the sheets copy every month that ever has a
    value: ``ratio_past_k`` is ``ratio`` shifted by ``12 k`` months. What remains per sheet is
    which columns it creates (the column order of the original), returned as
    ``{sheet index: [(column, array), ...]}`` in creation order.
    """
    if not _RATIO_COLUMNS.isdisjoint(cols.values.keys()) or not _RATIO_COLUMNS.isdisjoint(cols.nulls.keys()) \
            or any(name in cols.values or name in cols.nulls for name in _BDF_PAST_FROM_DIANE):
        return None
    found: list[tuple[int, slice, list[float | None]]] = []
    for index, (r, windows, _) in enumerate(sheets):
        if windows[0] is None:
            continue
        row: list[float | None] = []
        for _, formula in _RECOMPUTED:
            try:
                value = formula(r)
            except Exception:  # noqa: BLE001 - the per-sheet path raises it where the original does
                return None
            if value is not None:
                if not isinstance(value, _NUMERIC):
                    return None
                value = float(value)
                if math.isnan(value):
                    return None
            row.append(value)
        found.append((index, windows[0], row))
    created: dict[int, list[tuple[str, np.ndarray]]] = {}
    finals: dict[str, np.ndarray] = {}
    for i, (name, _) in enumerate(_RECOMPUTED):
        setters = [(window, row[i]) for _, window, row in found if row[i] is not None]
        if not setters:
            continue
        final = np.full(n, np.nan)
        for window, value in reversed(setters):  # the first sheet covering a month wins
            final[window] = value
        finals[name] = final
        first = next(index for index, _, row in found if row[i] is not None)
        created.setdefault(first, []).append((name, final))
    # The _past_k of a ratio is created by the first sheet (once the ratio exists) whose own
    # months include one with a value ``m`` such that ``m + 12 k`` is on the axis.
    pasts: dict[int, list[tuple[str, np.ndarray]]] = {}
    born: set[str] = set()
    for s, (index, window, _) in enumerate(found):
        born.update(name for name, _ in created.get(index, ()))
        for name in _SHIFTED:
            if name not in born:
                continue
            i = _RATIO_INDEX[name]
            earliest = _first_valued(window, [(w, row[i]) for _, w, row in found[:s + 1]])
            if earliest is None:
                continue
            for k in YEAR_LAGS:
                past = f"{name}_past_{k}"
                if earliest + 12 * k < n and past not in born:
                    born.add(past)
                    shifted = np.full(n, np.nan)
                    shifted[12 * k:] = finals[name][:n - 12 * k]
                    pasts.setdefault(index, []).append((past, shifted))
    for key, columns in pasts.items():
        created.setdefault(key, []).extend(columns)
    return created


_RATIO_INDEX = {name: i for i, (name, _) in enumerate(_RECOMPUTED)}


def _first_valued(window: slice, setters: list[tuple[slice, float | None]]) -> int | None:
    """First month of ``window`` that one of ``setters`` (the sheets so far) gives a value."""
    best = None
    for other, value in setters:
        if value is None:
            continue
        lo, hi = max(window.start, other.start), min(window.stop, other.stop)
        if lo < hi and (best is None or lo < best):
            best = lo
    return best


def _recompute_ratios(r: dict[str, Any], inside: slice, cols: Columns) -> None:
    """poids_frng, dette_fiscale, frais_financier from the sheet where the month has none.

    The formula is evaluated first (it is pure and cheap) so that the months are looked at
    only when it gives a value; an error it raises is raised only if a month needs it, as
    when it is evaluated after the test."""
    lo, hi = inside.start, inside.stop
    for name, formula in _RECOMPUTED:
        try:
            value = formula(r)
            failure = None
        except Exception as exc:  # noqa: BLE001 - re-raised below when the original would evaluate it
            value, failure = None, exc
        if value is None and failure is None:
            continue
        arr = cols.values.get(name)
        mask = cols.nulls.get(name)
        if arr is None and mask is None:
            missing = None
        elif arr is not None and arr.dtype == _FLOAT:
            missing = np.isnan(arr[lo:hi]) if mask is None else np.isnan(arr[lo:hi]) & ~mask[lo:hi]
            if missing.all():
                missing = None
            elif not missing.any():
                continue
        else:
            missing = ~cols.present(name)[inside]
            if not missing.any():
                continue
        if failure is not None:
            raise failure
        _put_slice(cols, name, inside if missing is None else np.flatnonzero(missing) + lo, value)


#: ``(ratio, (ratio_past_1, ratio_past_2))`` for the BdF ratios Diane shifts.
_BDF_PAST_NAMES = tuple((name, tuple(f"{name}_past_{k}" for k in YEAR_LAGS)) for name in _BDF_PAST_FROM_DIANE)


def _bdf_past_from_diane(inside: slice, cols: Columns, n: int) -> None:
    """Copy the BdF ratios present on the sheet's months 12 and 24 months later (a null stays null)."""
    lo, hi = inside.start, inside.stop
    for name, pasts in _BDF_PAST_NAMES:
        arr = cols.values.get(name)
        if arr is None:
            continue
        if arr.dtype == object:
            _object_past(cols, name, arr, pasts, inside, n)
            continue
        values = arr[lo:hi]
        known = ~np.isnan(values)
        mask = cols.nulls.get(name)
        null = mask[lo:hi] & ~known if mask is not None else None
        every = known.all()
        some = every or known.any()
        some_null = null is not None and null.any()
        for k, past in zip(YEAR_LAGS, pasts):
            start = lo + 12 * k
            if start >= n:
                break
            stop = min(hi + 12 * k, n)
            width = stop - start
            if every:  # the usual case: plain slices, no mask
                cols.num(past)[start:stop] = values[:width]
                past_mask = cols.nulls.get(past)
                if past_mask is not None:
                    past_mask[start:stop] = False
            elif some:
                keep = known[:width]
                if keep.any():
                    cols.num(past)[start:stop][keep] = values[:width][keep]
                    past_mask = cols.nulls.get(past)
                    if past_mask is not None:
                        past_mask[start:stop][keep] = False
            if some_null and null[:width].any():
                cols.set_null(past, np.flatnonzero(null[:width]) + start)


def _object_past(cols: Columns, name: str, arr: np.ndarray, pasts: tuple[str, ...], inside: slice, n: int) -> None:
    """The general path of :func:`_bdf_past_from_diane` for an object ratio column."""
    present = np.flatnonzero(cols.present(name)[inside]) + inside.start
    for k, past in zip(YEAR_LAGS, pasts):
        target = present + 12 * k
        keep = target < n
        for j, t in zip(present[keep].tolist(), target[keep].tolist()):
            cols.put(past, t, arr[j])
