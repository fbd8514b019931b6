"""paused_gc: the collector is off inside the block and restored as it was, even on error."""

import gc

import pytest
from sf.engine.bulk import paused_gc


@pytest.fixture
def gc_restored():
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_pauses_then_restores_an_enabled_collector_even_on_error(gc_restored):
    gc.enable()
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_leaves_a_paused_collector_paused_when_nested(gc_restored):
    gc.enable()
    with paused_gc():
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block must not switch it back on
    assert gc.isenabled()
