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
    not stored (distinct from 0). Parsers build instances with :meth:`build` after
    converting every cell with the Go-compatible converters of ``sf.importers.convert``:
    the converters are the validation, so the per-line cost stays low. Use
    ``model_validate`` for records coming from elsewhere.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Names of fields whose ``None`` is stored as an explicit null (none in v2022 URSSAF).
    stored_nulls: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def build(cls, **values: Any) -> Self:
        """The record holding ``values``, already converted and checked by the Go-compatible
        converters: no validation is run (the converters were it).

        Same instance as ``model_construct(**values)`` (``__dict__`` in field order, missing
        optional fields at their default, a missing required field absent, ``model_fields_set``
        the names given) at a fraction of its cost, which matters at millions of lines: the
        per-class template is computed once. An unknown field name raises TypeError
        (``model_construct`` would drop it silently).
        """
        plan = _PLANS.get(cls, _MISSING)
        if plan is _MISSING:
            plan = _plan(cls)
        if plan is None:
            return cls.model_construct(**values)
        template, required, every_field, size = plan
        data = template.copy()
        data.update(values)
        if len(data) != size:
            raise TypeError(f"{cls.__name__}: unknown field(s) {sorted(set(values) - every_field)}")
        if len(values) == size:
            given = every_field  # shared by the records given every field (they are frozen)
        else:
            given = set(values)
            for name in required:
                if data[name] is _MISSING:
                    del data[name]
        record = _new(cls)
        _set(record, "__dict__", data)
        _set(record, "__pydantic_fields_set__", given)
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
_MISSING = object()

#: Per record class: (field template, required field names, the set of every field name, the
#: number of fields), or None when the class needs pydantic's own ``model_construct``.
_Plan = tuple[dict[str, Any], tuple[str, ...], set[str], int] | None
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type[SourceRecord]) -> _Plan:
    """Compute (once per class) what ``SourceRecord.build`` needs. Classes using features the
    template does not reproduce (aliases, default factories, ``extra="allow"``, private
    attributes, a post-init hook), or a pydantic whose instance layout differs, get None."""
    fields = cls.__pydantic_fields__
    plain = _FAST_LAYOUT and not (
        cls.__pydantic_root_model__ or cls.__pydantic_post_init__ or cls.__private_attributes__
        or cls.model_config.get("extra") == "allow"
        or any(f.alias is not None or f.validation_alias is not None or f.default_factory is not None
               for f in fields.values()))
    plan: _Plan = None
    if plain:
        template = {name: (_MISSING if field.is_required() else field.default) for name, field in fields.items()}
        required = tuple(name for name, field in fields.items() if field.is_required())
        plan = (template, required, set(fields), len(fields))
    _PLANS[cls] = plan
    return plan


def _probe_fast_layout() -> bool:
    """True when pydantic's instance layout is the one ``SourceRecord.build`` relies on."""

    class _Probe(BaseModel):
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


_FAST_LAYOUT = _probe_fast_layout()


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
