from pathlib import Path

import logging
from urllib.parse import unquote

import pytest
from sf.engine.errors import DatabaseUnreachable
from sf.engine.journal import mask_arguments
from sf.engine.settings import install_log_redaction, load_settings, redact, redact_uri


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


#: (password as written in the URI, the URI after ``scheme://user:`` up to the hosts).
PASSWORDS = ["s3cr3t", "S3cr/etPW", "S3cr@etPW", "p@ss:w/rd", "a:b:c", "p%40ss%2Fw%3Ard", "pa?ss#wd", "x@y@z",
             "üñí©ødé", "p%20w", "/", "@", ":", "@@@@", "//", "%25", "pass word", "tab\there", "a,b", "a'b\"c"]
HOSTS = ["db.invalid/", "db:27017/signaux?authSource=admin", "h1:1,h2:2,h3:3/db?replicaSet=rs0&tls=true", "db",
         "[::1]:27017/", "cluster0.example.net/?retryWrites=true&w=majority"]
SCHEMES = ["mongodb", "mongodb+srv"]


def _uris():
    for scheme in SCHEMES:
        for user in ("sfuser", "u", "dom\\user", "first.last%40corp"):
            for password in PASSWORDS:
                for hosts in HOSTS:
                    yield password, f"{scheme}://{user}:{password}@{hosts}", f"{scheme}://{user}:***@{hosts}"


def test_redact_uri_is_right_for_any_password_and_uri_shape():
    count = 0
    for password, uri, expected in _uris():
        assert redact_uri(uri) == expected, uri
        count += 1
    assert count == 2 * 4 * len(PASSWORDS) * len(HOSTS)


@pytest.mark.parametrize("template", [
    "invalid MongoDB URI {uri}: Port contains non-digit characters.",
    "cannot reach MongoDB at {uri} (timeout)",
    "args: {{'mongodb_uri': '{uri}'}}",
    'uri="{uri}"',
    "{uri}",
    "first {uri} then again {uri}.",
    "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad {uri}\n",
])
def test_redact_hides_every_uri_password_in_any_text(template):
    for password, uri, expected in _uris():
        if any(c in password for c in " \t'\""):
            continue  # a URI cut by a blank or a quote: see the remembered-secret test
        assert redact(template.format(uri=uri)) == template.format(uri=expected), uri


def test_a_configured_password_is_hidden_even_outside_a_uri():
    for password in ("pass word", "tab\there", "a'b\"c", "S3cr/etPW", "p%40ss%2Fw%3Ard"):
        uri = f"mongodb://sfuser:{password}@db.invalid/"
        load_settings({"SF_MONGODB_URI": uri})  # what the CLI does at start
        decoded = unquote(password)
        for text in (f"bad uri {uri}", f"authentication failed for {decoded!r}", f"password {password} refused",
                     f"'{uri}'"):
            assert password not in redact(text) and decoded not in redact(text), text


def test_errors_logs_and_journal_arguments_are_redacted(caplog):
    uri = "mongodb://sfuser:Z9/q@w:e@db.invalid/"
    error = DatabaseUnreachable(f"cannot reach MongoDB at {uri}", f"check {uri}")
    assert "Z9" not in str(error) and "q@w" not in str(error) and "sfuser:***@db.invalid/" in str(error)
    install_log_redaction()
    logger = logging.getLogger("sf.test.redaction")
    with caplog.at_level(logging.INFO, logger="sf.test.redaction"):
        logger.info("connecting to %s", uri)
        try:
            raise RuntimeError(f"boom {uri}")
        except RuntimeError:
            logger.exception("failed")
    assert caplog.records and all("Z9" not in r.getMessage() for r in caplog.records)
    assert "Z9" not in caplog.text and "sfuser:***@db.invalid/" in caplog.text
    assert mask_arguments({"uri": uri, "uris": [uri]}) == {"uri": "mongodb://sfuser:***@db.invalid/",
                                                           "uris": ["mongodb://sfuser:***@db.invalid/"]}


def test_the_cli_never_prints_the_password(tmp_path):
    import subprocess
    import sys

    for uri in ("mongodb://sfuser:S3cr/etPW@db.invalid/", "mongodb://sfuser:S3cr@etPW@db.invalid/",
                "mongodb://sfuser:S3cr:et PW@db.invalid:1/", "mongodb://sfuser:S3cr%2FetPW@db.invalid:1/"):
        done = subprocess.run([sys.executable, "-m", "sf.cli", "--mongodb-uri", uri, "batch", "list"],
                              capture_output=True, text=True, timeout=120,
                              env={"SF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
        output = done.stdout + done.stderr
        assert done.returncode in (2, 4) and "Error" in output, output
        assert "S3cr" not in output and "etPW" not in output, output


def test_errors_survive_pickling_with_their_exit_code():
    import pickle

    from sf.compaction.errors import UnknownBatchError

    error = pickle.loads(pickle.dumps(UnknownBatchError("2413", "01234567890123")))
    assert isinstance(error, UnknownBatchError) and error.exit_code == 2
    assert error.batch_key == "2413" and "2413" in str(error)


def test_timeouts_come_from_the_environment():
    settings = load_settings({"SF_MONGODB_TIMEOUT_MS": "1500", "SF_EMBEDDED_START_TIMEOUT_S": "60",
                              "SF_DASK_CONNECT_TIMEOUT_S": "2.5"})
    assert settings.mongodb_timeout_ms == 1500
    assert settings.embedded_start_timeout_s == 60.0 and settings.dask_connect_timeout_s == 2.5
    defaults = load_settings({})
    assert (defaults.mongodb_timeout_ms, defaults.embedded_start_timeout_s, defaults.dask_connect_timeout_s) \
        == (5000, 30.0, 10.0)


@pytest.mark.parametrize("name, value", [("SF_MONGODB_TIMEOUT_MS", "5s"), ("SF_MONGODB_TIMEOUT_MS", "0"),
                                         ("SF_MONGODB_TIMEOUT_MS", "2.5"), ("SF_EMBEDDED_START_TIMEOUT_S", "-1"),
                                         ("SF_DASK_CONNECT_TIMEOUT_S", "nan"), ("SF_WORKERS", "two")])
def test_an_invalid_number_is_a_usage_error_naming_the_variable(name: str, value: str):
    from sf.engine.errors import UsageError

    with pytest.raises(UsageError, match=f"{name}='{value}'") as info:
        load_settings({name: value})
    assert info.value.exit_code == 2
