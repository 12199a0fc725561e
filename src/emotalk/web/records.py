"""A web job's record and the names the queue (jobs.py), the runner (runner.py) and the app share.

Kept apart from the queue so the runner, which only dubs one job, need not import the queue's threads and locks.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from emotalk.errors import ConfigError, EmotalkError

STATES = ("queued", "running", "done", "failed")
FINISHED = ("done", "failed")
JOB_FILE = "job.json"
RESULT_FILE = "result.mp4"
INCOMING = ".incoming-"
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: Seconds a job is assumed to take before any has finished (for Retry-After).
DEFAULT_JOB_SECONDS = 30.0

Progress = Callable[[float, str], None]


def new_job_id() -> str:
    """A random, unguessable job id (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def valid_job_id(value: str) -> bool:
    """True for strings shaped like our ids (checked before an id is ever joined to a path)."""
    return bool(_ID.fullmatch(value or ""))


class QueueFullError(EmotalkError):
    """The queue is full: the client should retry after `retry_after` seconds (HTTP 429)."""

    def __init__(self, retry_after: int, waiting: int) -> None:
        super().__init__(
            f"the server is busy: {waiting} job(s) are already waiting, the most it keeps; "
            f"try again in about {retry_after} s"
        )
        self.retry_after = retry_after


class JobCancelled(Exception):
    """Raised inside the progress callback to stop a job that was deleted or whose server is stopping."""


class ModelUnavailableError(ConfigError):
    """No generator is loaded (no checkpoint configured, or it failed to load): HTTP 503."""


@dataclass
class Job:
    """One dubbing job: its options, what its inputs are, and where it stands."""

    id: str
    options: dict[str, Any]
    inputs: dict[str, Any]
    state: str = "queued"
    progress: float = 0.0
    stage: str = "queued"
    error: str | None = None
    error_kind: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    # run-time flags, not persisted
    cancel: bool = field(default=False, repr=False, compare=False)
    deleted: bool = field(default=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["cancel"], d["deleted"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k not in ("cancel", "deleted")}
        job = cls(**known)
        if job.state not in STATES or not valid_job_id(job.id):
            raise ValueError(f"not a job record: state {job.state!r}, id {job.id!r}")
        return job


class Runner(Protocol):
    """What the workers call: dub `job` (inputs in `folder`), writing ``folder / RESULT_FILE``; return a summary."""

    def __call__(self, job: Job, folder: Path, progress: Progress, worker: int) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Reservation:
    """A queue slot held while a job's files are uploaded and checked (`JobManager.reserve`)."""

    id: str
    folder: Path
    released: bool = False


def scrub(message: str, folder: Path, inputs: dict[str, Any]) -> str:
    """A job's error text without server paths: input files are named by their role and the client's name."""
    for role, item in inputs.items():
        if isinstance(item, dict) and item.get("file"):
            label = f"the {role} file" + (f" ({item['name']})" if item.get("name") else "")
            message = message.replace(str(folder / item["file"]), label)
    message = message.replace(str(folder / RESULT_FILE), "the result").replace(str(folder), "the job folder")
    return message
