"""The maker switch of the engine's block sizes (:mod:`polyphase.engine.machine`)."""

import io

import pytest

from polyphase.engine import machine


@pytest.fixture
def cpuinfo(monkeypatch):
    """Make ``machine.maker`` read ``text`` as ``/proc/cpuinfo`` (None: no file)."""
    def use(text):
        def fake_open(path, *args, **kwargs):
            assert path == "/proc/cpuinfo"
            if text is None:
                raise FileNotFoundError(path)
            return io.StringIO(text)
        monkeypatch.setattr(machine, "open", fake_open, raising=False)
        machine.maker.cache_clear()
    yield use
    monkeypatch.undo()
    machine.maker.cache_clear()


@pytest.mark.parametrize("vendor, expected", [("GenuineIntel", "intel"),
                                              ("AuthenticAMD", "amd"),
                                              ("HygonGenuine", "other")])
def test_maker_from_cpuinfo(cpuinfo, vendor, expected):
    cpuinfo(f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: 6\n"
            f"processor\t: 1\nvendor_id\t: GenuineIntel\n")
    assert machine.maker() == expected
    values = {"amd": 4, "intel": 16}
    assert machine.pick(values) == (16 if expected == "intel" else 4)


@pytest.mark.parametrize("text", [None, "processor\t: 0\nCPU implementer\t: 0x41\n"])
def test_no_maker_takes_the_reference_values(cpuinfo, text):
    """No /proc/cpuinfo (macOS, Windows) or no vendor line (ARM): the EPYC's."""
    cpuinfo(text)
    assert machine.maker() == "other"
    assert machine.pick({"amd": 4, "intel": 16}) == 4
