"""Jobs of the web server: a bounded queue, a fixed set of worker threads, job state persisted on disk.

A job lives in its own folder ``<data_dir>/jobs/<id>/``: the uploaded inputs (names chosen by the server, never the
client's), ``job.json`` (its state, rewritten atomically on every change that matters) and, when done,
``result.mp4`` (+ the Dubber's ``result.mp4.json`` summary). Ids are ``secrets.token_urlsafe(16)`` (128 random
bits): knowing an id is what entitles a client to a job, so there is no listing of jobs.

Queue: at most `queue_size` jobs wait (uploads in progress hold a slot too, so concurrent uploads cannot overshoot
the bound); `workers` threads take them in order. A full queue raises `QueueFullError` (HTTP 429) with an estimate
of when a slot frees. Each worker calls the `runner` (normally `DubRunner`, which loads the model once per device
and is shared by the workers) with a progress callback; the callback raises `JobCancelled` when the job is deleted
or the server stops, which cancels the dub (the Dubber stops at its next progress report).

Restarts: at start, finished jobs are kept (until they expire) and jobs that were queued or running when the
server stopped are marked failed ("interrupted"). They are not re-queued: a job that crashed the server would crash
it again at every start, and the client that submitted it has usually given up. A clean stop (Ctrl-C) marks them
the same way. Inputs are deleted as soon as a job finishes (they are personal data and no longer needed); results
and failed jobs' records expire `ttl_s` after they finish, removed by a cleaner thread and at start.

The job record and its errors live in records.py, the files of the jobs in job_store.py and the `DubRunner` in
runner.py; this module re-exports the names it used to hold.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from emotalk.errors import ConfigError, EmotalkError
from emotalk.web.job_store import lock_data_dir, read_jobs, remove_inputs, sweep_uploads, unlock_data_dir, write_job
from emotalk.web.records import (
    DEFAULT_JOB_SECONDS,
    FINISHED,
    INCOMING,
    JOB_FILE,
    RESULT_FILE,
    STATES,
    Job,
    JobCancelled,
    ModelUnavailableError,
    Progress,
    QueueFullError,
    Reservation,
    Runner,
    new_job_id,
    scrub,
    valid_job_id,
)
from emotalk.web.runner import DubRunner, resolve_devices

log = logging.getLogger(__name__)


class JobManager:
    """The queue, the workers, the cleaner and the on-disk state of all jobs.

    Args:
        data_dir: where job folders live (``<data_dir>/jobs/<id>/``); one server per data dir (a lock file says so).
        runner: does the work (see `Runner`).
        workers: worker threads (one per GPU, or one on CPU).
        queue_size: jobs that may wait (not counting those running).
        ttl_s: seconds a finished job (its result) is kept.
        clean_every_s: how often expired jobs are removed (default: ttl/10, between 1 s and 10 min).
        persist_every_s: at most one progress write per job in this many seconds (stage changes always write).
        worker_nice: how much lower the workers' CPU priority is than the server's (0: the same).
    """

    def __init__(
        self,
        data_dir: Path,
        runner: Runner,
        *,
        workers: int = 1,
        queue_size: int = 8,
        ttl_s: float = 24 * 3600,
        clean_every_s: float | None = None,
        persist_every_s: float = 1.0,
        worker_nice: int = 10,
    ) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        if queue_size < 1:
            raise ConfigError(f"queue size must be at least 1, got {queue_size}")
        if not ttl_s > 0:
            raise ConfigError(f"result TTL must be positive, got {ttl_s} s")
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.runner = runner
        self.workers = int(workers)
        self.queue_size = int(queue_size)
        self.ttl_s = float(ttl_s)
        self.clean_every_s = clean_every_s or min(600.0, max(1.0, self.ttl_s / 10))
        self.persist_every_s = persist_every_s
        self.worker_nice = int(worker_nice)
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._running: dict[str, Job] = {}
        self._pending: dict[str, Reservation] = {}
        self._durations: collections.deque[float] = collections.deque(maxlen=20)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock_fd: int | None = None
        self.counters = collections.Counter[str]()
        #: The most jobs ever waiting or uploading at once (the load test checks it never passes `queue_size`).
        self.peak_waiting = 0

    # ------------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Lock the data dir, recover jobs from disk, remove expired ones, start the workers and the cleaner."""
        self._lock_fd = lock_data_dir(self.data_dir, self.jobs_dir)
        self._stop.clear()
        self._recover()
        self.clean()
        for i in range(self.workers):
            t = threading.Thread(target=self._work, args=(i,), name=f"emotalk-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._clean_loop, name="emotalk-cleaner", daemon=True)
        t.start()
        self._threads.append(t)

    def close(self, timeout: float = 30.0) -> None:
        """Stop: running jobs are cancelled and marked failed (interrupted), waiting ones too; release the lock."""
        with self._wake:
            self._stop.set()
            for job in list(self._running.values()):
                job.cancel = True
            for job_id in list(self._queue):
                job = self._jobs.get(job_id)
                if job is not None:
                    self._fail_interrupted(job, "the server stopped before this job started")
            self._queue.clear()
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        if self._lock_fd is not None:
            unlock_data_dir(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------------------------------------ submitting

    def reserve(self) -> Reservation:
        """Hold a queue slot for an upload; raise `QueueFullError` when none is free."""
        with self._lock:
            waiting = len(self._queue) + len(self._pending)
            if self._stop.is_set() or waiting >= self.queue_size:
                self.counters["rejected_full"] += 1
                raise QueueFullError(self.retry_after(), waiting)
            job_id = new_job_id()
            folder = self.jobs_dir / f"{INCOMING}{job_id}"
            folder.mkdir(parents=True)
            res = Reservation(job_id, folder)
            self._pending[job_id] = res
            self.peak_waiting = max(self.peak_waiting, len(self._queue) + len(self._pending))
            return res

    def release(self, res: Reservation) -> None:
        """Give a reserved slot back and delete what was uploaded into it (the upload failed its checks)."""
        with self._lock:
            if not res.released:
                res.released = True
                self._pending.pop(res.id, None)
        shutil.rmtree(res.folder, ignore_errors=True)

    def submit(self, res: Reservation, options: dict[str, Any], inputs: dict[str, Any]) -> Job:
        """Turn a reservation whose files passed their checks into a queued job."""
        with self._wake:
            if res.released:
                raise ConfigError("this upload's slot was already released")
            if self._stop.is_set():
                self.release(res)
                raise QueueFullError(self.retry_after(), len(self._queue))
            folder = self.folder(res.id)
            os.replace(res.folder, folder)
            res.released = True
            self._pending.pop(res.id, None)
            job = Job(id=res.id, options=options, inputs=inputs)
            self._persist(job)
            self._jobs[job.id] = job
            self._queue.append(job.id)
            self.counters["accepted"] += 1
            self._wake.notify()
            return job

    # ------------------------------------------------------------------------------------------------ queries

    def folder(self, job_id: str) -> Path:
        if not valid_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.jobs_dir / job_id

    def get(self, job_id: str) -> Job | None:
        if not valid_job_id(job_id):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def result_path(self, job: Job) -> Path:
        return self.folder(job.id) / RESULT_FILE

    def position(self, job: Job) -> int | None:
        """1-based place in the queue of a waiting job (None otherwise)."""
        with self._lock:
            try:
                return self._queue.index(job.id) + 1
            except ValueError:
                return None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            states = collections.Counter(j.state for j in self._jobs.values())
            return {
                "workers": self.workers,
                "capacity": self.queue_size,
                "waiting": len(self._queue),
                "uploading": len(self._pending),
                "running": len(self._running),
                "peak_waiting": self.peak_waiting,
                "jobs": dict(states),
                "counters": dict(self.counters),
                "avg_job_seconds": round(self._avg_seconds(), 2) if self._durations else None,
                "ttl_hours": round(self.ttl_s / 3600, 3),
            }

    def _avg_seconds(self) -> float:
        return sum(self._durations) / len(self._durations) if self._durations else DEFAULT_JOB_SECONDS

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely to free: when the running job nearest its end should finish."""
        with self._lock:
            avg = self._avg_seconds()
            now = time.time()
            left = [max(1.0, avg - (now - (j.started_at or now))) for j in self._running.values()]
            est = min(left) if left else 5.0
        return int(min(600, max(1, math.ceil(est))))

    # ------------------------------------------------------------------------------------------------ deleting

    def delete(self, job_id: str) -> bool:
        """Forget a job and remove its files; a running job is cancelled (its folder goes when it stops)."""
        with self._lock:
            job = self._jobs.pop(job_id, None) if valid_job_id(job_id) else None
            if job is None:
                return False
            job.deleted = job.cancel = True
            with contextlib.suppress(ValueError):
                self._queue.remove(job_id)
            running = job_id in self._running
            self.counters["deleted"] += 1
        if not running:
            shutil.rmtree(self.folder(job_id), ignore_errors=True)
        return True

    # ------------------------------------------------------------------------------------------------ workers

    def _work(self, index: int) -> None:
        if self.worker_nice and hasattr(os, "setpriority"):
            # Linux nice values are per thread and inherited by the threads and ffmpeg processes a dub starts: the
            # dub yields the CPU to the event loop, so status calls stay fast while jobs run (benchmarks/web.py)
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.worker_nice)
        while True:
            with self._wake:
                while not self._stop.is_set() and not self._queue:
                    self._wake.wait()
                if self._stop.is_set():
                    return
                job = self._jobs.get(self._queue.popleft())
                if job is None:
                    continue
                job.state, job.stage, job.started_at = "running", "starting", time.time()
                self._running[job.id] = job
                self._persist(job)
            self._run(job, index)

    def _run(self, job: Job, index: int) -> None:
        """Run one job on worker `index` and record how it ended."""
        folder = self.folder(job.id)
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            result = self.runner(job, folder, self._progress_of(job), index)
        except Exception as exc:
            error = exc
        self._finish(job, folder, result, error)

    def _progress_of(self, job: Job) -> Progress:
        """The runner's progress callback for `job`: raises `JobCancelled` once the job is cancelled, and persists
        a stage change at once but a mere progress step at most every `persist_every_s`."""
        last = [time.monotonic()]

        def progress(fraction: float, stage: str) -> None:
            if job.cancel:
                raise JobCancelled(job.id)
            with self._lock:
                changed = stage != job.stage
                job.progress = round(min(1.0, max(job.progress, float(fraction))), 4)
                job.stage = stage
                now = time.monotonic()
                if changed or now - last[0] >= self.persist_every_s:
                    last[0] = now
                    self._persist(job)

        return progress

    def _finish(self, job: Job, folder: Path, result: dict[str, Any] | None, error: BaseException | None) -> None:
        """Mark a job that stopped running done, failed or interrupted; drop its inputs (or all of it, if deleted)."""
        with self._lock:
            self._running.pop(job.id, None)
            if job.deleted:
                shutil.rmtree(folder, ignore_errors=True)
                return
            job.finished_at = time.time()
            if job.cancel:  # the server is stopping
                self._fail_interrupted(job, "the server stopped while this job was running")
            elif error is None:
                job.state, job.stage, job.progress, job.result = "done", "done", 1.0, result
                self._durations.append(job.finished_at - (job.started_at or job.finished_at))
                self.counters["done"] += 1
            else:
                job.state, job.stage = "failed", "failed"
                job.error_kind = type(error).__name__
                if isinstance(error, EmotalkError):
                    job.error = scrub(str(error), folder, job.inputs)
                else:
                    log.error("job %s failed unexpectedly", job.id, exc_info=error)
                    job.error = f"internal error while dubbing ({type(error).__name__}); the server log has details"
                self.counters["failed"] += 1
            self._remove_inputs(job)
            self._persist(job)

    def _fail_interrupted(self, job: Job, why: str) -> None:
        job.state, job.stage, job.error_kind = "failed", "failed", "Interrupted"
        job.error = f"interrupted: {why}; submit it again"
        job.finished_at = job.finished_at or time.time()
        self._remove_inputs(job)
        self._persist(job)

    def _remove_inputs(self, job: Job) -> None:
        remove_inputs(self.folder(job.id), job)

    def _persist(self, job: Job) -> None:
        folder = self.folder(job.id)
        if job.deleted or not folder.is_dir():
            return
        write_job(folder, job)

    # ------------------------------------------------------------------------------------------------ restart, TTL

    def _recover(self) -> None:
        for job in read_jobs(self.jobs_dir):
            if job.state not in FINISHED:
                self._fail_interrupted(job, f"the server restarted while this job was {job.state}")
                self.counters["interrupted"] += 1
            self._jobs[job.id] = job
        if self._jobs:
            log.info("recovered %d job(s) from %s", len(self._jobs), self.jobs_dir)

    def clean(self) -> int:
        """Remove finished jobs older than the TTL and abandoned uploads; return how many jobs went."""
        now = time.time()
        with self._lock:
            expired = [
                j.id for j in self._jobs.values() if j.state in FINISHED and now - (j.finished_at or now) > self.ttl_s
            ]
            pending = {r.folder.name for r in self._pending.values()}
        # files first, then the record: a client that sees the job gone (404) also sees its files gone and counted
        for job_id in expired:
            shutil.rmtree(self.folder(job_id), ignore_errors=True)
        with self._lock:
            for job_id in expired:
                self._jobs.pop(job_id, None)
            if expired:
                self.counters["expired"] += len(expired)
        sweep_uploads(self.jobs_dir, pending, now)
        if expired:
            log.info("removed %d expired job(s)", len(expired))
        return len(expired)

    def _clean_loop(self) -> None:
        while not self._stop.wait(self.clean_every_s):
            try:
                self.clean()
            except Exception:  # the cleaner must survive anything (a vanished folder, a full disk)
                log.exception("cleaning expired jobs failed")


#: The names this module has always offered (records.py and runner.py hold them now).
__all__ = [
    "DEFAULT_JOB_SECONDS",
    "FINISHED",
    "INCOMING",
    "JOB_FILE",
    "RESULT_FILE",
    "STATES",
    "DubRunner",
    "Job",
    "JobCancelled",
    "JobManager",
    "ModelUnavailableError",
    "Progress",
    "QueueFullError",
    "Reservation",
    "Runner",
    "new_job_id",
    "resolve_devices",
    "scrub",
    "valid_job_id",
]
