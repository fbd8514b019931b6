"""The MongoDB wire protocol: reading requests from a socket and framing replies.

Only the two request forms a modern driver or shell sends are understood:

- ``OP_MSG`` (opcode 2013): flag bits, one body document (section kind 0) and any number of
  document sequences (kind 1, e.g. the ``documents`` of an ``insert``), optionally followed by
  a CRC-32C checksum (accepted, not verified: the transport is a local socket or TCP, which
  already checks integrity);
- ``OP_QUERY`` (opcode 2004) on ``<db>.$cmd``: the legacy form of the first handshake
  (``isMaster``), answered with ``OP_REPLY`` (opcode 1).

Compression (``OP_COMPRESSED``) is not advertised in the handshake, so clients never send it.

Nothing here interprets a command: the result of :func:`read_request` is the command's raw
BSON body plus its document sequences as raw BSON bytes, which :mod:`.commands` decodes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import bson

from .codec import CODEC

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013
OP_COMPRESSED = 2012

# OP_MSG flag bits (MongoDB's "OP_MSG" specification).
CHECKSUM_PRESENT = 1 << 0
MORE_TO_COME = 1 << 1
EXHAUST_ALLOWED = 1 << 16

#: Largest request accepted (maxMessageSizeBytes announced in ``hello``).
MAX_MESSAGE_SIZE = 48_000_000

_HEADER = struct.Struct("<iiii")
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")


class ProtocolError(Exception):
    """A request the wire layer cannot parse: the connection is closed, no reply is sent."""


@dataclass
class Request:
    """One parsed request.

    ``body`` is the raw BSON command document; ``sequences`` maps a document sequence's
    identifier (``documents``, ``updates``, ``deletes``) to its documents as raw BSON bytes;
    ``database`` is the target database for ``OP_QUERY`` (``OP_MSG`` carries ``$db`` in the body);
    ``more_to_come`` means the client expects no reply (unacknowledged write).
    """

    request_id: int
    opcode: int
    body: bytes
    sequences: dict[str, list[bytes]] = field(default_factory=dict)
    database: str | None = None
    more_to_come: bool = False
    exhaust_allowed: bool = False


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


def read_request(stream: BinaryIO) -> Request | None:
    """Read one request from a buffered binary stream.

    Returns None at a clean end of stream (client closed between messages). Raises
    :class:`ProtocolError` for a malformed or unsupported message and ``EOFError`` when the
    stream ends inside a message.
    """
    header = stream.read(16)
    if not header:
        return None
    if len(header) != 16:
        raise EOFError
    length, request_id, _response_to, opcode = _HEADER.unpack(header)
    if length < 16 or length > MAX_MESSAGE_SIZE:
        raise ProtocolError(f"invalid message length {length}")
    payload = _read_exact(stream, length - 16)
    try:
        if opcode == OP_MSG:
            return _parse_op_msg(request_id, payload)
        if opcode == OP_QUERY:
            return _parse_op_query(request_id, payload)
    except (struct.error, ValueError, IndexError) as exc:  # sizes or terminators out of place
        raise ProtocolError(f"malformed message: {exc}") from None
    raise ProtocolError(f"unsupported opcode {opcode}")


def _parse_op_msg(request_id: int, payload: bytes) -> Request:
    (flags,) = _UINT32.unpack_from(payload, 0)
    end = len(payload) - (4 if flags & CHECKSUM_PRESENT else 0)
    pos = 4
    body: bytes | None = None
    sequences: dict[str, list[bytes]] = {}
    while pos < end:
        kind = payload[pos]
        pos += 1
        if kind == 0:
            (size,) = _INT32.unpack_from(payload, pos)
            body = payload[pos:pos + size]
            pos += size
        elif kind == 1:
            (size,) = _INT32.unpack_from(payload, pos)
            section_end = pos + size
            name_end = payload.index(b"\x00", pos + 4)
            name = payload[pos + 4:name_end].decode()
            docs = sequences.setdefault(name, [])
            p = name_end + 1
            while p < section_end:
                (doc_size,) = _INT32.unpack_from(payload, p)
                if doc_size < 5 or p + doc_size > section_end:
                    raise ProtocolError("invalid document in a document sequence")
                docs.append(payload[p:p + doc_size])
                p += doc_size
            pos = section_end
        else:
            raise ProtocolError(f"unknown OP_MSG section kind {kind}")
    if body is None:
        raise ProtocolError("OP_MSG without a body section")
    return Request(request_id, OP_MSG, body, sequences, None,
                   bool(flags & MORE_TO_COME), bool(flags & EXHAUST_ALLOWED))


def _parse_op_query(request_id: int, payload: bytes) -> Request:
    name_end = payload.index(b"\x00", 4)
    namespace = payload[4:name_end].decode()
    pos = name_end + 1 + 8  # numberToSkip, numberToReturn
    (size,) = _INT32.unpack_from(payload, pos)
    body = payload[pos:pos + size]
    database, _, collection = namespace.partition(".")
    if collection != "$cmd":
        raise ProtocolError(f"OP_QUERY is only supported for commands, not on {namespace}")
    return Request(request_id, OP_QUERY, body, {}, database)


_reply_ids = iter(range(1, 2**31))


def frame_reply(request: Request, reply: bytes) -> bytes:
    """Frame the BSON bytes of a command reply as the answer to ``request``.

    ``OP_MSG`` requests get an ``OP_MSG`` (no checksum), ``OP_QUERY`` requests an ``OP_REPLY``.
    """
    reply_id = next(_reply_ids)
    if request.opcode == OP_MSG:
        body = b"\x00\x00\x00\x00\x00" + reply  # flagBits 0, section kind 0
        return _HEADER.pack(16 + len(body), reply_id, request.request_id, OP_MSG) + body
    # OP_REPLY: responseFlags, cursorID, startingFrom, numberReturned, documents
    body = struct.pack("<iqii", 0, 0, 0, 1) + reply
    return _HEADER.pack(16 + len(body), reply_id, request.request_id, OP_REPLY) + body


def encode_reply(reply: dict) -> bytes:
    """Encode a reply document (values may include ``RawBSONDocument``s, copied as they are)."""
    return bson.encode(reply, check_keys=False, codec_options=CODEC)
