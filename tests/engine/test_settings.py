from pathlib import Path

from sf.engine.settings import load_settings, redact_uri


def test_defaults_without_environment():
    settings = load_settings({})
    assert settings.mongodb_uri is None and settings.embedded
    assert settings.db_name == "signauxfaibles"
    assert settings.home == Path(".sf")
    assert settings.embedded_data_dir == Path(".sf") / "store"


def test_environment_and_overrides():
    settings = load_settings({"SF_MONGODB_URI": "mongodb://h:1/", "SF_DB": "x", "SF_HOME": "/tmp/h", "SF_WORKERS": "3"})
    assert not settings.embedded and settings.db_name == "x" and settings.workers == 3
    overridden = settings.with_overrides(db_name="y", mongodb_uri=None)
    assert overridden.db_name == "y" and overridden.mongodb_uri == "mongodb://h:1/"


def test_empty_values_count_as_unset():
    assert load_settings({"SF_MONGODB_URI": "", "SF_DB": ""}).embedded


def test_redact_uri_hides_only_the_password():
    assert redact_uri("mongodb://sf:s3cr3t@db:27017/x?authSource=admin") == "mongodb://sf:***@db:27017/x?authSource=admin"
    assert redact_uri("mongodb+srv://a:b@cluster/") == "mongodb+srv://a:***@cluster/"
    assert redact_uri("mongodb://db:27017/") == "mongodb://db:27017/"


def test_errors_survive_pickling_with_their_exit_code():
    import pickle

    from sf.compaction.errors import UnknownBatchError

    error = pickle.loads(pickle.dumps(UnknownBatchError("2413", "01234567890123")))
    assert isinstance(error, UnknownBatchError) and error.exit_code == 2
    assert error.batch_key == "2413" and "2413" in str(error)
