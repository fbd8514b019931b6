"""Inputs of the feature computation: the rebuilt state of one company and the batch parameters.

:class:`CompanyState` holds, for one SIREN, the live records ``{type: {hash: record}}`` of the
entreprise and of each of its etablissements, as of a batch. Records are plain dicts as stored
in RawData (dates are aware UTC ``datetime``; ``cotisation``, ``debit`` and ``apdemande`` carry
a ``periode: {start, end}`` sub-document). The rebuild (the original's ``flatten``) is
``sf.compaction.state.rebuild_state``; :func:`company_state_from_rawdata` applies it to the
RawData values of one company.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sf.compaction.state import rebuild_state

from .errors import FeatureInputError
from .months import as_utc, month_index

Records = dict[str, dict[str, Any]]
"""``{type: {hash: record}}``."""

Mode = Literal["fixed", "parity"]

#: finalize.ts drops companies with more établissements than this (parity mode only).
MAX_ETABLISSEMENTS_PARITY = 1500


@dataclass(frozen=True, slots=True)
class NafTable:
    """NAF nomenclature lookups (the original's ``naf`` global): codes to labels per level.

    ``n5to1`` maps a sub-class code (``"2511Z"``) to its section letter; ``n1`` .. ``n5`` map
    codes of each level to labels. Missing entries give absent fields, as in the original.
    """

    n5to1: Mapping[str, str] = field(default_factory=dict)
    n1: Mapping[str, str] = field(default_factory=dict)
    n2: Mapping[str, str] = field(default_factory=dict)
    n3: Mapping[str, str] = field(default_factory=dict)
    n4: Mapping[str, str] = field(default_factory=dict)
    n5: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """Batch parameters of the computation.

    * ``batch``: batch key written in ``_id.batch``;
    * ``date_fin_effectif``: month up to which headcounts are delivered (aware UTC);
    * ``mode``: ``"fixed"`` (point-in-time-correct values, default) or ``"parity"`` (the
      original's output, quirks included);
    * ``naf``: NAF labels; when None, ``code_naf``/``libelle_naf`` come from the built-in
      division → section table and the ``libelle_ape*`` fields are absent;
    * ``history_months``: fixed mode only — months of history before the first period used
      for lags and 12-month windows (the original only looks inside the period series).
    """

    batch: str
    date_fin_effectif: datetime
    mode: Mode = "fixed"
    naf: NafTable | None = None
    history_months: int = 24

    def __post_init__(self) -> None:
        if self.mode not in ("fixed", "parity"):
            raise FeatureInputError("FeatureParams", f"mode must be 'fixed' or 'parity', got {self.mode!r}")
        if not isinstance(self.date_fin_effectif, datetime):
            raise FeatureInputError("FeatureParams", "date_fin_effectif must be a datetime")
        if self.history_months < 0:
            raise FeatureInputError("FeatureParams", "history_months must be >= 0")

    @property
    def date_fin_effectif_month(self) -> int:
        """Month index of ``date_fin_effectif``."""
        return month_index(as_utc(self.date_fin_effectif))


@dataclass(slots=True)
class CompanyState:
    """Rebuilt state of one company: ``entreprise`` records and ``etablissements[siret]`` records.

    Raises :class:`FeatureInputError` when the SIREN is not 9 digits or a SIRET does not start
    with it (a company's établissements must share its SIREN, so company aggregates are exact).
    """

    siren: str
    entreprise: Records = field(default_factory=dict)
    etablissements: dict[str, Records] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.siren, str) and len(self.siren) == 9 and self.siren.isdigit()):
            raise FeatureInputError(f"company {self.siren!r}", "SIREN must be a 9-digit string")
        for siret in self.etablissements:
            if not (isinstance(siret, str) and len(siret) == 14 and siret.isdigit()
                    and siret.startswith(self.siren)):
                raise FeatureInputError(f"company {self.siren}",
                                        f"SIRET {siret!r} is not a 14-digit string starting with the SIREN")


def company_state_from_rawdata(siren: str, rawdata_values: Iterable[Mapping[str, Any]],
                               until_batch: str) -> CompanyState:
    """Rebuild one company's state from the ``value`` of its RawData documents.

    ``rawdata_values``: the entreprise document (``scope == "entreprise"``, ``key == siren``)
    and the documents of its établissements (``key`` = SIRET). Each is flattened with
    ``rebuild_state(value, until_batch)`` (deletions of ``compact.delete`` first, then the
    batch's records, batch keys in string order, up to ``until_batch`` included).
    Raises :class:`FeatureInputError` on a document of another company or an unknown scope.
    """
    state = CompanyState(siren)
    for value in rawdata_values:
        key, scope = value.get("key"), value.get("scope")
        rebuilt = rebuild_state(value, until_batch)
        if scope == "entreprise":
            if key != siren:
                raise FeatureInputError(f"RawData {key!r}", f"entreprise document does not belong to {siren}")
            state.entreprise = rebuilt
        elif scope == "etablissement":
            if not (isinstance(key, str) and key.startswith(siren)):
                raise FeatureInputError(f"RawData {key!r}", f"etablissement does not belong to {siren}")
            state.etablissements[key] = rebuilt
        else:
            raise FeatureInputError(f"RawData {key!r}", f"unknown scope {scope!r}")
    state.__post_init__()
    return state
