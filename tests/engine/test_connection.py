from pathlib import Path

import pytest

from sf.engine.connection import connect, open_store
from sf.engine.errors import DatabaseUnreachable, UsageError
from sf.engine.settings import Settings


def test_unreachable_server_fails_without_the_password(free_port: int):
    with pytest.raises(DatabaseUnreachable) as info:
        connect(f"mongodb://sf:hunter2@127.0.0.1:{free_port}/", "x", timeout_ms=500)
    assert "hunter2" not in str(info.value) and "sf:***@" in str(info.value)


def test_server_selection_timeout_is_short_by_default():
    # A wrong address must fail in seconds, not after pymongo's 30 s default.
    from sf.engine import connection

    assert connection.SERVER_SELECTION_TIMEOUT_MS == 5000


def test_malformed_uri_is_a_usage_error():
    with pytest.raises(UsageError, match="invalid MongoDB URI"):
        connect("http://example.org", "x")


def test_embedded_store_persists_between_openings(tmp_path: Path):
    settings = Settings(mongodb_uri=None, db_name="signauxfaibles", home=tmp_path / "home")
    with open_store(settings) as store:
        assert store.embedded is not None
        store.db["Admin"].insert_one({"_id": {"key": "2401", "type": "batch"}})
        process = store.embedded.process
    assert process.poll() is not None, "the embedded server must stop with the command"
    with open_store(settings) as store:
        assert store.db["Admin"].find_one({"_id.key": "2401"}) is not None
        assert set(store.db.list_collection_names()) >= {"Admin", "ImportedData", "RawData", "Features", "Scores", "Journal"}
    store_file = tmp_path / "home" / "store" / "signauxfaibles.sqlite3"
    assert store_file.exists() and store_file.stat().st_mode & 0o777 == 0o600
