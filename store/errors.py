"""The one error type of the store: a MongoDB server error with its code.

Every layer of the store (query, update, aggregation, storage, commands) raises
:class:`StoreError`; the wire layer turns it into the reply MongoDB would send
(``{ok: 0, errmsg, code, codeName}``, or a ``writeErrors`` entry for a write), which PyMongo
raises as ``OperationFailure`` / ``DuplicateKeyError`` / ``BulkWriteError`` with the same code.
"""

from __future__ import annotations

# The MongoDB error codes the store uses (src/mongo/base/error_codes.yml in MongoDB's source).
BAD_VALUE = 2
FAILED_TO_PARSE = 9
TYPE_MISMATCH = 14
ILLEGAL_OPERATION = 20
NAMESPACE_NOT_FOUND = 26
INDEX_NOT_FOUND = 27
PATH_NOT_VIABLE = 28
CONFLICTING_UPDATE_OPERATORS = 40
CURSOR_NOT_FOUND = 43
NAMESPACE_EXISTS = 48
DOLLAR_PREFIXED_FIELD_NAME = 52
EMPTY_FIELD_NAME = 56
COMMAND_NOT_FOUND = 59
IMMUTABLE_FIELD = 66
INVALID_OPTIONS = 72
INVALID_NAMESPACE = 73
INDEX_OPTIONS_CONFLICT = 85
INDEX_KEY_SPECS_CONFLICT = 86
AUTHENTICATION_FAILED = 18
UNAUTHORIZED = 13
NOT_IMPLEMENTED = 238
LOCATION_NOT_SUPPORTED = 115  # "CommandNotSupported"
CANNOT_INDEX_PARALLEL_ARRAYS = 171
DUPLICATE_KEY = 11000

_CODE_NAMES = {
    BAD_VALUE: "BadValue",
    FAILED_TO_PARSE: "FailedToParse",
    TYPE_MISMATCH: "TypeMismatch",
    ILLEGAL_OPERATION: "IllegalOperation",
    NAMESPACE_NOT_FOUND: "NamespaceNotFound",
    INDEX_NOT_FOUND: "IndexNotFound",
    PATH_NOT_VIABLE: "PathNotViable",
    CONFLICTING_UPDATE_OPERATORS: "ConflictingUpdateOperators",
    CURSOR_NOT_FOUND: "CursorNotFound",
    NAMESPACE_EXISTS: "NamespaceExists",
    DOLLAR_PREFIXED_FIELD_NAME: "DollarPrefixedFieldName",
    EMPTY_FIELD_NAME: "EmptyFieldName",
    COMMAND_NOT_FOUND: "CommandNotFound",
    IMMUTABLE_FIELD: "ImmutableField",
    INVALID_OPTIONS: "InvalidOptions",
    INVALID_NAMESPACE: "InvalidNamespace",
    INDEX_OPTIONS_CONFLICT: "IndexOptionsConflict",
    INDEX_KEY_SPECS_CONFLICT: "IndexKeySpecsConflict",
    AUTHENTICATION_FAILED: "AuthenticationFailed",
    UNAUTHORIZED: "Unauthorized",
    NOT_IMPLEMENTED: "NotImplemented",
    LOCATION_NOT_SUPPORTED: "CommandNotSupported",
    CANNOT_INDEX_PARALLEL_ARRAYS: "CannotIndexParallelArrays",
    DUPLICATE_KEY: "DuplicateKey",
}


class StoreError(Exception):
    """A MongoDB server error: ``code`` (an int from the list above or MongoDB's own
    ``Location<N>`` codes), ``message`` (what a user reads) and ``code_name``.

    Raised for every unsupported or invalid request: the store never answers a request it
    does not understand with a silently different result.
    """

    def __init__(self, code: int, message: str, code_name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.code_name = code_name or _CODE_NAMES.get(code, f"Location{code}")

    def to_reply(self) -> dict:
        """The command reply MongoDB sends for this error."""
        return {"ok": 0.0, "errmsg": self.message, "code": self.code, "codeName": self.code_name}


def not_supported(what: str) -> StoreError:
    """The error for a MongoDB feature this store does not implement (clear, never silent)."""
    return StoreError(NOT_IMPLEMENTED, f"{what} is not supported by the sf embedded store")
