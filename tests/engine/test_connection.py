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
    from sf.engine.settings import load_settings

    assert load_settings({}).mongodb_timeout_ms == 5000
    assert load_settings({"SF_MONGODB_TIMEOUT_MS": "800"}).mongodb_timeout_ms == 800


def test_open_store_uses_the_configured_mongodb_timeout(free_port: int):
    settings = Settings(mongodb_uri=f"mongodb://127.0.0.1:{free_port}/", db_name="x", home=Path("."),
                        mongodb_timeout_ms=300)
    with pytest.raises(DatabaseUnreachable, match=f"127.0.0.1:{free_port}"):
        with open_store(settings):
            pass


def test_embedded_start_timeout_is_the_settings_one(tmp_path: Path):
    # A store that cannot answer within the timeout (0.001 s: it cannot even start Python)
    # is reported as not started, with the timeout in the message.
    settings = Settings(mongodb_uri=None, db_name="x", home=tmp_path / "home", embedded_start_timeout_s=0.001)
    with pytest.raises(DatabaseUnreachable, match="did not start: no ready line within 0.001 s"):
        with open_store(settings):
            pass


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
