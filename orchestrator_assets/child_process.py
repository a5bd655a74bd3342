"""Child processes that end with the process that started them, however it ends.

A run killed with SIGKILL gets no chance to stop what it started: its `dbt build` would go on holding the
DuckDB warehouse. The kernel can do it instead: PR_SET_PDEATHSIG asks for a signal when the parent dies, and
it survives exec. Standard library only: the dbt wrapper starts before anything else is imported.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def dbt_main() -> None:
    """`orchestrator-dbt`: dbt, tied to the step that runs it."""
    die_with_parent()
    dbt = Path(sys.executable).with_name("dbt")
    os.execv(dbt, [str(dbt), *sys.argv[1:]])
