"""Registry of the source parsers: batch file type → parser.

Each parser lives in the module ``sf.importers.<file_type>`` and exposes a module-level
``PARSER``. ``filter`` is a batch file type too, but it is read by
``sf.importers.perimeter``, not parsed as a source.
"""

from __future__ import annotations

import importlib

from sf.importers.records import Parser

__all__ = ["FILE_TYPES", "NON_PARSED_TYPES", "PARSERS", "load_parser"]

#: Every parsed batch file type (16), in the original's order of sources.
FILE_TYPES: list[str] = [
    "admin_urssaf",
    "apconso",
    "apdemande",
    "bdf",
    "ccsf",
    "cotisation",
    "debit",
    "delai",
    "diane",
    "effectif",
    "effectif_ent",
    "ellisphere",
    "paydex",
    "procol",
    "sirene",
    "sirene_ul",
]

#: Batch file types that are accepted silently although no parser reads them as a source.
NON_PARSED_TYPES: frozenset[str] = frozenset({"filter"})


def load_parser(file_type: str) -> Parser:
    """Import ``sf.importers.<file_type>`` and return its ``PARSER``.

    Raises KeyError for an unknown file type, ImportError when the module is missing.
    """
    if file_type not in FILE_TYPES:
        raise KeyError(f"{file_type} n'est pas un parser reconnu.")
    module = importlib.import_module(f"sf.importers.{file_type}")
    parser: Parser = module.PARSER
    if parser.file_type != file_type:
        raise ImportError(f"sf.importers.{file_type}.PARSER declares file type {parser.file_type!r}")
    return parser


#: file type → parser, for every type of FILE_TYPES.
PARSERS: dict[str, Parser] = {file_type: load_parser(file_type) for file_type in FILE_TYPES}
