"""Helper threads of a split call (polyphase.engine.crew)."""

import os
import threading

import pytest

from polyphase.engine.crew import Crew

linux = pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux only")


def test_the_task_runs_on_the_caller_and_each_helper_once():
    crew = Crew(3)
    ran = []
    lock = threading.Lock()

    def task():
        with lock:
            ran.append(threading.get_ident())

    for n in (4, 2, 1):                       # fewer threads than helpers too
        ran.clear()
        crew.run(task, [None] * n)
        assert len(ran) == n and len(set(ran)) == n
        assert threading.get_ident() in ran


def test_a_helpers_exception_reaches_the_caller_and_the_crew_goes_on():
    crew = Crew(1)

    def task():
        if threading.current_thread() is not threading.main_thread():
            raise KeyError("in the helper")

    with pytest.raises(KeyError, match="in the helper"):
        crew.run(task, [None, None])
    ran = []
    crew.run(lambda: ran.append(1), [None, None])
    assert ran == [1, 1]


def test_the_callers_exception_waits_for_the_helpers():
    crew = Crew(1)
    finished = []

    def task():
        if threading.current_thread() is threading.main_thread():
            raise ValueError("in the caller")
        threading.Event().wait(0.2)
        finished.append(1)

    with pytest.raises(ValueError, match="in the caller"):
        crew.run(task, [None, None])
    assert finished == [1]                   # (the helper had finished)


@linux
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity")
                    else True, reason="needs two CPUs")
def test_a_helper_is_on_its_cpus_when_its_task_starts():
    """Pinned before it is woken (not by itself once it runs): the first
    thing its task sees is the set it was given."""
    allowed = sorted(os.sched_getaffinity(0))
    here, there = {allowed[0]}, {allowed[1]}
    before = os.sched_getaffinity(0)
    seen = {}

    def task():
        seen[threading.current_thread() is threading.main_thread()] = \
            os.sched_getaffinity(0)

    crew = Crew(1)
    crew.run(task, [here, there])
    assert seen == {True: here, False: there}
    assert os.sched_getaffinity(0) == before
    crew.run(task, [there, here])            # and moved for the next call
    assert seen == {True: there, False: here}


def test_a_crew_in_use_runs_another_threads_call_on_that_thread_alone():
    crew = Crew(1)
    inside = threading.Event()
    release = threading.Event()
    ran = []

    def holding():
        ran.append(("first", threading.current_thread().name))
        if threading.current_thread() is threading.main_thread():
            inside.set()
            release.wait(30)

    def second():
        inside.wait(30)
        crew.run(lambda: ran.append(("second", threading.current_thread().name)),
                 [None, None])
        release.set()

    other = threading.Thread(target=second, name="other")
    other.start()
    crew.run(holding, [None, None])
    other.join(30)
    assert [r for r in ran if r[0] == "second"] == [("second", "other")]
    assert len([r for r in ran if r[0] == "first"]) == 2
