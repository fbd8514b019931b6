import pytest

from sf.engine.cluster import ClusterUnreachable, dask_client, run_partitions
from sf.engine.partitions import KeyRange
from sf.engine.settings import Settings


def _count_in_range(keys: list[str], key_range: KeyRange) -> int:
    if key_range.lo == "5":
        raise ValueError("broken partition 5..")
    return sum(key_range.contains(k) for k in keys)


def test_local_cluster_runs_every_range_and_reports_failures(tmp_path, capfd):
    settings = Settings(mongodb_uri=None, db_name="x", home=tmp_path)
    keys = [str(i) for i in range(10)]
    ranges = [KeyRange(None, "3"), KeyRange("3", "5"), KeyRange("5", None)]
    done = []
    with dask_client(settings, workers=2) as client:
        outcome = run_partitions(client, _count_in_range, ranges, keys, label="count", silent=True,
                                 on_done=lambda r, n: done.append((r.name, n)))
    assert outcome.results == {"-inf..3": 3, "3..5": 2}
    assert outcome.errors == {"5..+inf": "ValueError: broken partition 5.."}
    assert sorted(done) == [("-inf..3", 3), ("3..5", 2)]
    # The failure is reported once, by the caller: no worker "Compute Failed … Traceback" on stderr.
    err = capfd.readouterr().err
    assert "Compute Failed" not in err and "Traceback" not in err, err


def test_unreachable_scheduler_is_a_clear_error(tmp_path, free_port):
    settings = Settings(mongodb_uri=None, db_name="x", home=tmp_path)
    with pytest.raises(ClusterUnreachable, match=f"127.0.0.1:{free_port}"):
        with dask_client(settings, scheduler=f"tcp://127.0.0.1:{free_port}", connect_timeout_s=1):
            pass


def test_sum_stats_adds_numbers_and_merges_messages():
    from sf.engine.cluster import sum_stats

    total = sum_stats({"a": {"rows": 2, "read_s": 0.1, "added": {"debit": 1}, "failed": {"1": "bad date"}},
                       "b": {"rows": 3, "read_s": 0.2, "added": {"debit": 2, "effectif": 4}, "failed": {"2": "x"}}})
    assert total == {"rows": 5, "read_s": 0.3, "added": {"debit": 3, "effectif": 4},
                     "failed": {"1": "bad date", "2": "x"}}
