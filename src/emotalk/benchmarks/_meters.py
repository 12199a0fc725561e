"""The meters every benchmark section shares: CPU seconds (process + children) and sampled peak RSS (not a section:
the leading underscore keeps `emotalk.bench` from running it).

CPU time is what a run costs whatever else the machine is doing, so figures measured on a shared machine are
compared by it rather than by wall time; RSS is sampled, so a peak shorter than `interval` can be missed.
"""

from __future__ import annotations

import contextlib
import resource
import threading
from typing import Any


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished (waited-for) descendants: pool workers and their ffmpeg."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class PeakRSS:
    """Peak RSS of a process (`peak`), and of it plus all its descendants (`peak_tree`), sampled every `interval` s.

    Use as a context manager around the measured work; `process` is a `psutil.Process` (default: this one).
    """

    def __init__(self, interval: float = 0.05, process: Any = None) -> None:
        import psutil

        self.proc = process or psutil.Process()
        self.interval = interval
        self.peak = self.peak_tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        try:
            own = self.proc.memory_info().rss
        except psutil.Error:  # the process has exited
            return
        tree = own
        for c in self.proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                tree += c.memory_info().rss
        self.peak, self.peak_tree = max(self.peak, own), max(self.peak_tree, tree)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
