"""insert_documents: chunked unordered inserts, a failure named by its first _id."""

import pytest
from sf.engine.documents import insert_documents
from sf.engine.errors import SfError


def test_inserts_every_document_in_chunks(db):
    docs = [{"_id": i, "n": i} for i in range(7)]
    assert insert_documents(db, "T", docs, "test", chunk=3) == 7
    assert sorted(d["_id"] for d in db["T"].find()) == list(range(7))


def test_a_duplicate_key_is_an_sf_error_naming_where_and_the_first_id(db):
    db["T"].insert_one({"_id": 4})
    docs = [{"_id": i} for i in range(6)]
    with pytest.raises(SfError, match=r"T write failed for 1 document\(s\) of range x, first 4"):
        insert_documents(db, "T", docs, "range x", chunk=3)
    assert db["T"].count_documents({}) == 6  # the other documents of the chunk are written (unordered)
