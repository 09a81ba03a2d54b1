"""The benchmark suite's interleaved timing (benchmarks.timing)."""

from benchmarks import timing


def test_interleaved_runs_each_setup_before_each_of_its_blocks():
    """``before[name]`` runs before ``name``'s first call and before each of
    its timed blocks, and none of ``name``'s calls runs under the other's
    setup: the U9 case sets the thread count this way."""
    state = {"threads": None}
    calls = {"one": [], "two": []}

    def make(name):
        return lambda: calls[name].append(state["threads"])

    t = timing.interleaved({"one": make("one"), "two": make("two")}, repeats=3,
                           min_repeat=0.0,
                           before={"one": lambda: state.update(threads=1),
                                   "two": lambda: state.update(threads=2)})
    assert set(t) == {"one", "two"} and all(v >= 0 for v in t.values())
    assert calls["one"] and set(calls["one"]) == {1}
    assert calls["two"] and set(calls["two"]) == {2}
    assert len(calls["one"]) == 2 + 3            # warm-up, inner-loop sizing, 3 blocks
