import pytest

from sf.engine import cluster
from sf.engine.cluster import ClusterUnreachable, PartitionOutcome, dask_client, run_partitions
from sf.engine.errors import SfError
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


class _Run:
    def __init__(self) -> None:
        self.checkpoints: list[tuple[str, dict]] = []

    def checkpoint(self, name: str, stats: dict) -> None:
        self.checkpoints.append((name, stats))


class _RangesFailed(SfError):
    pass


def _fake_ranges(errors: dict[str, str]):
    """A stand-in for run_over_ranges: two finished ranges handed to on_done, and ``errors``."""

    def run_over_ranges(store, task, *args, sources, partitions, workers, scheduler, label, on_done, silent):
        outcome = PartitionOutcome(ranges=2 + len(errors), errors=dict(errors))
        for key_range in (KeyRange(None, "5"), KeyRange("5", "8")):
            outcome.results[key_range.name] = task(*args, key_range)
            on_done(key_range, outcome.results[key_range.name])
        return outcome

    return run_over_ranges


def _rows(n: int, key_range: KeyRange) -> dict:
    return {"rows": n, "added": {key_range.name: 1}}


def test_run_job_checkpoints_each_range_and_sums_their_stats(monkeypatch):
    monkeypatch.setattr(cluster, "run_over_ranges", _fake_ranges({}))
    run = _Run()
    job = cluster.run_job(None, run, _rows, 3, sources=[], label="t", failure=_RangesFailed, hint="again")
    assert job.partitions == 2
    assert job.totals == {"rows": 6, "added": {"-inf..5": 1, "5..8": 1}}
    assert [name for name, _ in run.checkpoints] == ["-inf..5", "5..8"]


def test_run_job_raises_the_jobs_failure_and_keeps_the_finished_checkpoints(monkeypatch):
    monkeypatch.setattr(cluster, "run_over_ranges", _fake_ranges({"8..+inf": "ValueError: boom"}))
    run = _Run()
    with pytest.raises(_RangesFailed, match=r"1 of 3 range\(s\) failed, first 8..\+inf: ValueError: boom") as info:
        cluster.run_job(None, run, _rows, 1, sources=[], label="t", failure=_RangesFailed, hint="run it again")
    assert info.value.hint == "run it again"
    assert len(run.checkpoints) == 2


def test_run_job_without_checkpoint_writes_nothing_to_the_journal(monkeypatch):
    monkeypatch.setattr(cluster, "run_over_ranges", _fake_ranges({}))
    run = _Run()
    cluster.run_job(None, run, _rows, 1, sources=[], label="t", failure=_RangesFailed, hint="", checkpoint=False)
    assert run.checkpoints == []
