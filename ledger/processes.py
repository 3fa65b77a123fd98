"""Helper processes (signature checkers, audit workers) that never outlive their parent, and
the GIL's hand-over interval of the processes that append.

A pool's worker blocks reading its task queue, and holds that queue's writing end itself, so
when its parent is killed (SIGKILL, out of memory) nothing tells it to stop. `exit_with_parent`,
as a pool's initializer, watches for that and ends the worker.
"""

from __future__ import annotations

import os
import sys
import threading
import time

POLL_SECONDS = 1.0

# Seconds a thread holds the GIL while others wait for it (Python's default is 0.005). In a
# process that appends, threads wait on each other all the time: a batch's signature verdicts
# come back through the checkers' pool threads, and each request waiting for a group commit is
# a thread woken when its group is done. At the default each hand-over could cost up to 5 ms.
SWITCH_INTERVAL = 0.0002


def hand_over_sooner() -> None:
    """Set this process's GIL hand-over interval to `SWITCH_INTERVAL`."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def exit_with_parent(parent: int) -> None:
    """In a worker: exit as soon as process `parent` is no longer this process's parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
