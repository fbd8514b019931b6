"""Shared shapes of the importers: stored records, emitted tuples, parsed lines, parser protocol.

A parser turns each CSV record of a file into one :class:`ParsedLine` carrying zero or more
:class:`Tuple` objects (a stored record with its entity key and scope) and zero or more
error messages; the tracker (``sf.importers.tracker``) applies the generic checks and counts.

Field names of the record models are the original's stored (BSON/JSON) names, so that
``db.ImportedData.findOne()`` reads like the original.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from sf.importers.perimeter import AccountMapping, Perimeter

__all__ = ["ParseContext", "ParsedLine", "Parser", "Scope", "SourceRecord", "Tuple"]

Scope = Literal["etablissement", "entreprise"]


class SourceRecord(BaseModel):
    """Base of every per-source record model.

    Fields are the STORED fields with the original's names; ``None`` means "missing" and is
    not stored (distinct from 0). Parsers build instances with ``model_construct`` after
    converting every cell with the Go-compatible converters of ``sf.importers.convert``:
    the converters are the validation, so the per-line cost stays low. Use
    ``model_validate`` for records coming from elsewhere.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Names of fields whose ``None`` is stored as an explicit null (none in v2022 URSSAF).
    stored_nulls: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_converted(cls, values: dict[str, Any]) -> Self:
        """Instance from values already converted and checked by the Go-compatible
        converters: ``values`` must hold every field of the model (None for missing
        optional ones), nothing else. No validation is run — the converters were it.

        Same result as ``model_construct(**values)`` at about a third of its cost (it skips
        pydantic's per-call default and alias handling), which matters at millions of lines.
        """
        if not _FAST_CONSTRUCT:
            return cls.model_construct(**values)
        record = _new(cls)
        _set(record, "__dict__", values)
        _set(record, "__pydantic_fields_set__", _fields_set(cls))
        _set(record, "__pydantic_extra__", None)
        _set(record, "__pydantic_private__", None)
        return record

    def to_document(self) -> dict[str, Any]:
        """The dict stored in MongoDB: fields in declaration order, ``None`` omitted (unless
        listed in ``stored_nulls``), nested models turned into dicts, dates kept as
        ``datetime``."""
        document: dict[str, Any] = {}
        nulls = self.stored_nulls
        for name, value in self.__dict__.items():
            if value is None:
                if name in nulls:
                    document[name] = None
                continue
            if isinstance(value, BaseModel):
                value = value.to_document() if hasattr(value, "to_document") else value.model_dump()
            document[name] = value
        return document


_new = object.__new__
_set = object.__setattr__
_FIELDS_SETS: dict[type, set[str]] = {}


def _fields_set(cls: type[SourceRecord]) -> set[str]:
    fields = _FIELDS_SETS.get(cls)
    if fields is None:
        fields = _FIELDS_SETS[cls] = set(cls.model_fields)
    return fields


def _probe_fast_construct() -> bool:
    """True when pydantic's instance layout is the one ``from_converted`` relies on."""

    class _Probe(SourceRecord):
        a: int
        b: str | None = None

    try:
        fast = _new(_Probe)
        _set(fast, "__dict__", {"a": 1, "b": None})
        _set(fast, "__pydantic_fields_set__", {"a", "b"})
        _set(fast, "__pydantic_extra__", None)
        _set(fast, "__pydantic_private__", None)
        slow = _Probe.model_construct(a=1, b=None)
        return fast == slow and fast.model_dump() == slow.model_dump() and repr(fast) == repr(slow)
    except Exception:  # noqa: BLE001 - any incompatibility means: use the public API
        return False


_FAST_CONSTRUCT = _probe_fast_construct()


@dataclass(frozen=True, slots=True)
class Tuple:
    """One emitted record: stored ``type`` name (e.g. ``"compte"`` for admin_urssaf), entity
    ``key`` (SIRET for ``etablissement``, SIREN for ``entreprise``), ``scope`` and record."""

    type: str
    key: str
    scope: Scope
    record: SourceRecord


@dataclass(slots=True)
class ParsedLine:
    """Result of parsing one CSV record (docs/importers.md §1.5).

    ``number`` is the line of the file where the record starts (header = line 1; for a
    file that is not CSV, its own row number); a parser may return errors AND tuples
    (effectif, effectif_ent, sirene, compte); ``filtered`` marks a line outside the
    perimeter or whose URSSAF account has no SIRET mapping (its errors are then ignored).
    """

    number: int
    tuples: list[Tuple] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    filtered: bool = False


@dataclass
class ParseContext:
    """What a parser needs besides its file.

    ``batch_key``: e.g. ``"1910"``; ``date_debut``/``date_fin``: batch parameters (UTC);
    ``perimeter``: SIREN filter or None (no filter; the tracker applies it, parsers that
    load the account mapping pass it on); ``mapping``: lazy loader of the admin_urssaf
    account mapping, raising FatalFileError ``no admin_urssaf mapping found`` when the batch
    has none (None = no mapping available at all).
    """

    batch_key: str
    date_debut: datetime | None = None
    date_fin: datetime | None = None
    perimeter: Perimeter | None = None
    mapping: Callable[[], AccountMapping] | None = None


class Parser(Protocol):
    """A source parser. ``file_type`` is the batch file type (e.g. ``"admin_urssaf"``).

    ``parse(path, ctx)`` yields one ParsedLine per CSV record; it raises FatalFileError
    before the first line when the file cannot be opened or a required column is missing,
    and while iterating when the file turns out unreadable (truncated gzip, bad encoding).
    """

    file_type: str

    def parse(self, path: str, ctx: ParseContext) -> Iterator[ParsedLine]: ...
