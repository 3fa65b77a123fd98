"""Helper processes (signature checkers, audit workers) that never outlive their parent.

A pool's worker blocks reading its task queue, and holds that queue's writing end itself, so
when its parent is killed (SIGKILL, out of memory) nothing tells it to stop. `exit_with_parent`,
as a pool's initializer, watches for that and ends the worker.
"""

from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 1.0


def exit_with_parent(parent: int) -> None:
    """In a worker: exit as soon as process `parent` is no longer this process's parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
