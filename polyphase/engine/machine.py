"""Which of the measured machines the engine runs on, for its block sizes.

A few block sizes (the 1-D kernel's jobs, the Winograd route's chunks of
tiles) were measured best at different values on the two machines the
engine was tuned on, both 2-vCPU KVM guests with AVX-512:

* an AMD EPYC (Zen 4): two 256-bit FMA pipes a core, 32 KiB L1d, 1 MiB L2;
* an Intel Xeon (two 512-bit FMA units a core, OpenBLAS sgemm at 78 GMAC/s
  on one thread), 48 KiB L1d, 2 MiB L2.

:func:`pick` takes each constant's value for the maker of this CPU; a CPU
of neither maker (or a system without ``/proc/cpuinfo``) gets the EPYC's,
the reference machine's.  The tables next to each constant say what was
measured.
"""

from __future__ import annotations

import functools

_MAKERS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}


@functools.lru_cache(maxsize=None)
def maker() -> str:
    """``"intel"``, ``"amd"`` or ``"other"``: the first ``vendor_id`` of
    ``/proc/cpuinfo`` (read once).

    Examples
    --------
    >>> maker() in ("intel", "amd", "other")
    True
    """
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("vendor_id"):
                    return _MAKERS.get(line.split(":", 1)[1].strip(), "other")
    except OSError:
        pass
    return "other"


def pick(values: dict):
    """``values[maker()]``, or ``values["amd"]`` (the reference machine's)
    when this maker has no entry.

    Examples
    --------
    >>> pick({"amd": 1, "intel": 2}) in (1, 2)
    True
    >>> pick({"amd": 1})
    1
    """
    return values.get(maker(), values["amd"])
