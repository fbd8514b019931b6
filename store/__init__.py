"""sf.store — the embedded MongoDB-compatible store.

A MongoDB wire-protocol server that keeps every document as its raw BSON bytes in SQLite,
so that what is written comes back exactly as it was. It is the default backend of `sf`
when no ``SF_MONGODB_URI`` is configured, and can be served to ``mongosh`` (``sf db serve``).

Modules (each has one job; the pure ones know nothing of SQLite or sockets):

- :mod:`.errors` — :class:`StoreError`, a MongoDB server error (code, code name, message).
- :mod:`.codec` — stored BSON bytes to Python values and back, unchanged.
- :mod:`.clock` — the unique timestamps that fill ``Timestamp(0, 0)`` and ``$currentDate``.
- :mod:`.bsonorder` — MongoDB's comparison order of BSON values, collations, and an
  order-preserving byte encoding of values (keys of ``_id`` and of indexes in SQLite).
- :mod:`.numbers` — int32, int64, double and Decimal128 arithmetic as MongoDB does it.
- :mod:`.pcre` — MongoDB's PCRE regexes as Python ``re`` patterns.
- :mod:`.query` — filters (query operators) and dotted paths; the entry point of
  :mod:`.projection` (``find`` projections), :mod:`.sorting` (sort orders) and
  :mod:`.keyranges` (the index ranges a filter allows).
- :mod:`.update` — update operators, replacements, pipeline updates and upsert seeds.
- :mod:`.expressions` — aggregation expressions (compile once, evaluate per document), with
  the operators in :mod:`.expr_arithmetic`, :mod:`.expr_arrays`, :mod:`.expr_dates`,
  :mod:`.expr_strings` and :mod:`.expr_types`, and the calendar in :mod:`.dates`.
- :mod:`.aggregate` — aggregation pipelines, with stages in :mod:`.agg_reshape` (``$project``,
  ``$addFields``…), :mod:`.agg_group` (``$group``, ``$bucket``…) and its
  :mod:`.accumulators`, :mod:`.agg_lookup` (``$lookup``, ``$graphLookup``, ``$unionWith``…)
  and :mod:`.windows` (``$setWindowFields``, ``$fill``, ``$densify``).
- :mod:`.storage` — collections, indexes and documents in SQLite, one transaction per command.
- :mod:`.commands` — the database commands (find, insert, update, aggregate, …).
- :mod:`.wire` / :mod:`.auth` / :mod:`.server` — the wire protocol, SCRAM-SHA-256
  authentication and the server process.

This package imports nothing from the rest of ``sf`` (it sits left of ``sf.engine`` in the
dependency chain).
"""
