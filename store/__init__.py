"""sf.store — the embedded MongoDB-compatible store.

A MongoDB wire-protocol server that keeps every document as its raw BSON bytes in SQLite,
so that what is written comes back exactly as it was. It is the default backend of `sf`
when no ``SF_MONGODB_URI`` is configured, and can be served to ``mongosh`` (``sf db serve``).

Modules (each has one job; the pure ones know nothing of SQLite or sockets):

- :mod:`.errors` — :class:`StoreError`, a MongoDB server error (code, code name, message).
- :mod:`.bsonorder` — MongoDB's comparison order of BSON values and an order-preserving
  byte encoding of values (keys of ``_id`` and of indexes in SQLite).
- :mod:`.query` — filters (query operators), projections and sorts over documents.
- :mod:`.update` — update operators, replacements and upsert seeds.
- :mod:`.expressions` / :mod:`.aggregate` — aggregation expressions and pipeline stages.
- :mod:`.storage` — collections, indexes and documents in SQLite, one transaction per command.
- :mod:`.commands` — the database commands (find, insert, update, aggregate, …).
- :mod:`.wire` / :mod:`.server` — the wire protocol, authentication and the server process.

This package imports nothing from the rest of ``sf`` (it sits left of ``sf.engine`` in the
dependency chain).
"""
