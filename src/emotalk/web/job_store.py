"""The on-disk side of the web jobs (jobs.py): the data dir's lock, one folder per job with its ``job.json``, and
what a stop leaves behind (uploads cut off, unreadable records). The queue decides; this module only reads and
writes files, so a full disk or a vanished folder is logged here and never stops a worker."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from emotalk.errors import ConfigError
from emotalk.fsutil import write_json
from emotalk.web.records import INCOMING, JOB_FILE, Job, valid_job_id

log = logging.getLogger(__name__)


def lock_data_dir(data_dir: Path, jobs_dir: Path) -> int:
    """Create `jobs_dir` and take the data dir's lock (one server per data dir); return the lock file's descriptor."""
    try:
        jobs_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot use the data dir {data_dir}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"another emotalk server is using the data dir {data_dir}; stop it or give --data-dir"
        ) from None
    return fd


def unlock_data_dir(fd: int) -> None:
    """Release the lock `lock_data_dir` took."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_jobs(jobs_dir: Path) -> Iterator[Job]:
    """The jobs recorded under `jobs_dir`, in folder order. Uploads cut off by a stop and folders whose record is
    unreadable are removed; folders not named like our ids are left alone."""
    for d in sorted(jobs_dir.iterdir()):
        if not d.is_dir():
            continue
        if d.name.startswith(INCOMING):  # an upload cut off by the stop
            shutil.rmtree(d, ignore_errors=True)
            continue
        if not valid_job_id(d.name):
            continue  # not ours: leave it alone
        try:
            job = Job.from_dict(json.loads((d / JOB_FILE).read_text()))
            if job.id != d.name:
                raise ValueError(f"id {job.id} in folder {d.name}")
        except (OSError, ValueError, TypeError) as exc:
            log.warning("removing job folder %s: unreadable state (%s)", d, exc)
            shutil.rmtree(d, ignore_errors=True)
            continue
        yield job


def write_job(folder: Path, job: Job) -> None:
    """Rewrite the job's ``job.json`` atomically; a failure is logged (the in-memory state still answers)."""
    try:
        write_json(folder / JOB_FILE, job.to_dict(), indent=1, fsync=True)
    except OSError as exc:  # a full disk must not kill the worker
        log.error("cannot write the state of job %s: %s", job.id, exc)


def remove_inputs(folder: Path, job: Job) -> None:
    """Delete a finished job's uploaded files (personal data, no longer needed); its record and result stay."""
    for item in job.inputs.values():
        if isinstance(item, dict) and item.get("file"):
            (folder / item["file"]).unlink(missing_ok=True)


def sweep_uploads(jobs_dir: Path, keep: set[str], now: float, max_age_s: float = 3600) -> None:
    """Remove upload folders older than `max_age_s` that no reservation holds (`keep`: folder names)."""
    for d in jobs_dir.glob(f"{INCOMING}*"):
        with contextlib.suppress(OSError):
            if d.name not in keep and now - d.stat().st_mtime > max_age_s:
                shutil.rmtree(d, ignore_errors=True)
