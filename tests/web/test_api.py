"""The JSON API on the ASGI app under httpx: a real dub end to end, every error the API returns, queue bound,
cancelling, restart and expiry."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import anyio
import pytest

from emotalk.errors import NoFaceError
from emotalk.ffmpeg import probe
from emotalk.web.app import Settings
from emotalk.web.jobs import JOB_FILE, RESULT_FILE
from emotalk.web.uploads import Limits

from .conftest import FakeRunner, api, form, wait_job

pytestmark = [pytest.mark.anyio, pytest.mark.media]


def job_dirs(data: Path) -> list[Path]:
    return sorted(p for p in (data / "jobs").iterdir() if p.is_dir())


# ------------------------------------------------------------------------------------------------ the real model


async def test_dub_end_to_end(tiny_ckpt: Path, web_media: dict[str, Path], tmp_path: Path) -> None:
    """Video + speech and photo + speech with the real Dubber: progress, result, range requests, download, delete."""
    data = tmp_path / "web"
    async with api(Settings(checkpoint=tiny_ckpt, data_dir=data, device="cpu")) as c:
        health = (await c.get("/api/health")).json()
        assert health["model"]["checkpoint"] == "tiny.ckpt" and health["model"]["state"] in ("loading", "ready")
        r = await c.post("/api/jobs", **form(web_media["clip"], web_media["speech"], emotion="happy", strength="0.5"))
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/api/jobs/{job['id']}" == job["status_url"]
        assert job["state"] == "queued" and job["options"]["description"] == "happy@0.5"
        assert job["inputs"]["video"] == {
            "name": "clip.mp4", "bytes": web_media["clip"].stat().st_size, "kind": "video", "width": 480,
            "height": 360, "fps": pytest.approx(29.97, abs=0.01), "seconds": pytest.approx(1.5, abs=0.05),
            "has_audio": True, "converted": False,
        }  # fmt: skip
        r2 = await c.post("/api/jobs", **form(web_media["photo"], web_media["speech"], emotion="sad"))
        assert r2.status_code == 202, r2.text
        assert r2.json()["inputs"]["video"]["kind"] == "photo"

        done, seen = await wait_job(c, job["id"])
        assert done["state"] == "done", done
        assert any(0 < p < 1 for p in seen), f"no progress between 0 and 1 was reported: {seen}"
        assert seen == sorted(seen), "progress went backwards"
        assert done["result"]["emotion"] == "happy@0.5" and done["result"]["frames"] == round(1.5 * 29.97)
        assert done["expires_at"] == pytest.approx(done["finished_at"] + 24 * 3600)

        r = await c.get(done["result_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        assert r.headers["content-disposition"].startswith("inline")
        assert r.headers["x-synthetic-media"]
        out = tmp_path / "result.mp4"
        out.write_bytes(r.content)
        info = probe(out)
        assert info.has_video and info.has_audio and info.size == (480, 360)
        assert info.duration == pytest.approx(1.5, abs=0.1)
        part = await c.get(done["result_url"], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == r.content[:100]
        dl = await c.get(done["download_url"])
        assert (
            dl.headers["content-disposition"].startswith("attachment")
            and "synthetic-happy" in dl.headers["content-disposition"]
        )

        photo, _ = await wait_job(c, r2.json()["id"])
        assert photo["state"] == "done", photo
        assert photo["result"]["seconds"] == pytest.approx(1.5, abs=0.1)

        folder = data / "jobs" / job["id"]
        assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
            JOB_FILE, RESULT_FILE, RESULT_FILE + ".json",
        ], "the uploaded inputs must be deleted once the job has finished"  # fmt: skip
        assert (await c.delete(job["status_url"])).status_code == 204
        assert not folder.exists()
        assert (await c.get(job["status_url"])).status_code == 404
        assert (await c.get(done["result_url"])).status_code == 404
        assert (await c.delete(job["status_url"])).status_code == 404
        health = (await c.get("/api/health")).json()
        assert health["status"] == "ok" and health["model"]["state"] == "ready"


async def test_browser_recording_is_converted(tiny_ckpt: Path, web_media: dict[str, Path], tmp_path: Path) -> None:
    """A WebM without duration in its header (what MediaRecorder writes) is re-encoded, then dubbed."""
    assert probe(web_media["recording"]).duration is None  # the premise: like a browser recording
    async with api(Settings(checkpoint=tiny_ckpt, data_dir=tmp_path, device="cpu")) as c:
        r = await c.post("/api/jobs", **form(web_media["recording"], web_media["speech"], name="recording-video.webm"))
        assert r.status_code == 202, r.text
        assert r.json()["inputs"]["video"]["converted"] is True
        assert r.json()["inputs"]["video"]["fps"] == 25
        done, _ = await wait_job(c, r.json()["id"])
        assert done["state"] == "done", done


async def test_no_checkpoint_still_serves(tmp_path: Path) -> None:
    async with api(Settings(checkpoint=None, data_dir=tmp_path)) as c:
        health = (await c.get("/api/health")).json()
        assert health["status"] == "no model"
        assert health["model"]["state"] == "missing" and "--checkpoint" in health["model"]["message"]
        page = await c.get("/")
        assert page.status_code == 200 and "Sync Input" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        r = await c.post("/api/jobs", files={"video": ("a.mp4", b"x")})
        assert r.status_code == 503 and "no generator checkpoint" in r.json()["detail"]
        assert not job_dirs(tmp_path)
        docs = await c.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = (await c.get("/openapi.json")).json()
        assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result", "/api/health"} <= set(spec["paths"])
        assert {"413", "415", "422", "429", "503"} <= set(spec["paths"]["/api/jobs"]["post"]["responses"])


async def test_docs_pages_use_only_local_assets(tmp_path: Path) -> None:
    """/docs and /redoc work offline: every script, stylesheet, icon and spec they reference is served here."""
    async with api(Settings(checkpoint=None, data_dir=tmp_path)) as c:
        for page in ("/docs", "/redoc"):
            html = (await c.get(page)).text
            refs = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)|\burl: *["']([^"']+)""", html)
            urls = {a or b for a, b in refs}
            assert any(u.endswith(".js") for u in urls), (page, urls)
            for url in urls:
                assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
                r = await c.get(url)
                assert r.status_code == 200 and r.content, (page, url, r.status_code)


# ------------------------------------------------------------------------------------------------ input errors


@pytest.fixture
def ok_result(web_media: dict[str, Path]) -> Path:
    return web_media["clip"]


async def test_input_errors(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    """Every refusal of POST /api/jobs: its status, a message that says what to do, and nothing left on disk."""
    m = web_media
    limits = Limits(max_upload_bytes=2_000_000, max_duration_s=2.0, max_side=1280)
    runner = FakeRunner(ok_result)
    async with api(Settings(data_dir=tmp_path, limits=limits), runner=runner) as c:
        cases = [
            # (form, status, words in the detail)
            (form(m["text"], m["speech"]), 415, "not a video, photo or audio file"),  # by content: named .mp4
            (form(m["clip"], m["text"]), 415, "the audio file (notes.mp4)"),
            (form(m["speech"]), 422, "has no picture"),  # audio given as the video
            (form(m["silent"]), 422, "no sound of its own"),  # no sound, no audio file
            (form(m["photo"]), 422, "no sound of its own"),
            (form(m["clip"], m["photo"]), 422, "has no sound track"),
            (form(m["clip"], emotion="bored"), 422, "bored"),
            (form(m["clip"], strength="2"), 422, "strength must be between 0 and 1"),
            (form(m["clip"], strength="lots"), 422, "strength must be a number"),
            (form(m["clip"], timeline="0-1:happy,0.5-2:sad"), 422, "overlap"),
            (form(m["clip"], face="middle"), 422, "face 'middle'"),
            (form(m["clip"], watermark="maybe"), 422, "watermark must be true or false"),
            (form(m["clip"], colour="red"), 422, "unknown form field 'colour'"),
            (form(None, m["speech"]), 422, "no video"),
            ({"files": {"video": ("empty.mp4", b"")}, "data": {}}, 422, "is empty"),
            (form(m["big_clip"]), 413, "1920x1080; the largest side allowed here is 1280"),
            (form(m["clip"], m["big_clip"]), 413, "lasts 3.7 s; at most 2 s"),
        ]
        for kwargs, status, words in cases:
            r = await c.post("/api/jobs", **kwargs)
            assert r.status_code == status, (kwargs["data"], r.status_code, r.text)
            detail = r.json()["detail"]
            assert words in detail, detail
            assert str(tmp_path) not in detail, "server paths must not leak"
        r = await c.post("/api/jobs", json={"video": "clip.mp4"})
        assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
        r = await c.post("/api/jobs", files={"video": ("a.mp4", b"x")}, data={"video": "twice"})
        assert r.status_code == 422
        assert not job_dirs(tmp_path), "refused uploads must leave nothing behind"
        assert runner.calls == []
        queue = (await c.get("/api/health")).json()["queue"]
        assert queue["uploading"] == 0 and queue["waiting"] == 0


async def test_upload_size_limit(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    """413 from the Content-Length at once, and from the byte count of a chunked body without one."""
    size = web_media["clip"].stat().st_size
    limits = Limits(max_upload_bytes=size // 2)
    async with api(Settings(data_dir=tmp_path, limits=limits), runner=FakeRunner(ok_result)) as c:
        r = await c.post("/api/jobs", **form(web_media["clip"]))
        assert r.status_code == 413 and "larger than the" in r.json()["detail"]

        boundary = "b0undary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        sent = []

        async def body():  # an async byte stream: httpx sends it chunked, with no length
            yield head
            for _ in range(64):
                sent.append(1)
                yield b"\0" * 4096
            yield f"\r\n--{boundary}--\r\n".encode()

        r = await c.post(
            "/api/jobs", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
        )
        assert r.status_code == 413 and "larger than the" in r.json()["detail"]
        assert "content-length" not in r.request.headers
        assert len(sent) < 64, "the body must be refused once past the limit, not read to its end"
        assert not job_dirs(tmp_path)
        # within the limit it goes through
        limits2 = Limits(max_upload_bytes=size + 10_000)
    async with api(Settings(data_dir=tmp_path / "b", limits=limits2), runner=FakeRunner(ok_result)) as c:
        assert (await c.post("/api/jobs", **form(web_media["clip"]))).status_code == 202


async def test_file_names_are_never_paths(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    """Client file names are text for messages only: traversal attempts land in the job folder under our names."""
    data = tmp_path / "data"
    async with api(Settings(data_dir=data), runner=FakeRunner(ok_result)) as c:
        for name in ("../../escape.mp4", "..\\..\\escape.mp4", "/etc/passwd", "a\x00b<script>.mp4", ".."):
            r = await c.post("/api/jobs", **form(web_media["clip"], name=name))
            assert r.status_code == 202, (name, r.text)
            shown = r.json()["inputs"]["video"]["name"]
            assert "/" not in shown and "\\" not in shown and "<" not in shown and "\x00" not in shown
            done, _ = await wait_job(c, r.json()["id"])
            assert done["state"] == "done"
        for bad in ("..", "..%2F..%2Fetc", "%2e%2e", "short", "x" * 200, "a/b"):
            assert (await c.get(f"/api/jobs/{bad}")).status_code == 404, bad
            assert (await c.delete(f"/api/jobs/{bad}")).status_code == 404, bad
    outside = {p for p in tmp_path.rglob("*")} - {p for p in data.rglob("*")} - {data}
    assert outside == set(), f"files written outside the data dir: {outside}"
    for folder in job_dirs(data):
        assert {p.name for p in folder.iterdir()} <= {JOB_FILE, RESULT_FILE}


async def test_job_ids_are_random(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    async with api(Settings(data_dir=tmp_path, queue_size=8), runner=FakeRunner(ok_result)) as c:
        ids = [(await c.post("/api/jobs", **form(web_media["clip"]))).json()["id"] for _ in range(4)]
    assert len(set(ids)) == 4
    for i in ids:
        assert len(i) == 22 and set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # 128 random bits: not a counter, not a time stamp (no shared prefix beyond chance)
    assert len({i[:4] for i in ids}) == 4


# ------------------------------------------------------------------------------------------------ queue, jobs


async def test_queue_bound_429_and_states(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    """One worker, two places: the third waiting job gets 429 with Retry-After; 409 before the result exists."""
    gate = threading.Event()
    runner = FakeRunner(ok_result, gate=gate)
    async with api(Settings(data_dir=tmp_path, queue_size=2, workers=1), runner=runner) as c:
        first = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        assert await anyio.to_thread.run_sync(runner.started.wait, 10)
        running = (await c.get(first["status_url"])).json()
        assert running["state"] == "running" and 0 < running["progress"] < 1 and running["stage"] == "dub"
        queued = [(await c.post("/api/jobs", **form(web_media["clip"]))).json() for _ in range(2)]
        assert [q["queue_position"] for q in queued] == [1, 2]
        r = await c.post("/api/jobs", **form(web_media["clip"]))
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1 and "try again in about" in r.json()["detail"]
        assert len(job_dirs(tmp_path)) == 3, "a refused job must not leave a folder"
        r = await c.get(f"{queued[0]['status_url']}/result")
        assert r.status_code == 409 and "queued" in r.json()["detail"]
        # deleting a waiting job frees its place
        assert (await c.delete(queued[1]["status_url"])).status_code == 204
        again = await c.post("/api/jobs", **form(web_media["clip"]))
        assert again.status_code == 202
        gate.set()
        for j in (first, queued[0], again.json()):
            done, _ = await wait_job(c, j["id"])
            assert done["state"] == "done"
        stats = (await c.get("/api/health")).json()["queue"]
        assert stats["peak_waiting"] == 2 and stats["counters"]["rejected_full"] == 1
        assert runner.calls == [first["id"], queued[0]["id"], again.json()["id"]]


async def test_cancel_running_job(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    gate = threading.Event()
    runner = FakeRunner(ok_result, gate=gate)
    async with api(Settings(data_dir=tmp_path), runner=runner) as c:
        job = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        assert await anyio.to_thread.run_sync(runner.started.wait, 10)
        assert (await c.delete(job["status_url"])).status_code == 204
        assert (await c.get(job["status_url"])).status_code == 404
        for _ in range(100):  # the worker stops at its next progress report and removes the folder
            if not (tmp_path / "jobs" / job["id"]).exists():
                break
            await anyio.sleep(0.05)
        assert not (tmp_path / "jobs" / job["id"]).exists()
        # the worker is free again
        nxt = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        gate.set()
        assert (await wait_job(c, nxt["id"]))[0]["state"] == "done"


async def test_failed_job_reports_error(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder_text = str(data / "jobs")
    err = NoFaceError(f"no face found in {folder_text}/XXX/video.upload: choose a video that shows a face")
    async with api(Settings(data_dir=data), runner=FakeRunner(ok_result, error=err)) as c:
        job = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        failed, _ = await wait_job(c, job["id"])
        assert failed["state"] == "failed" and failed["error_kind"] == "NoFaceError"
        assert "no face found" in failed["error"]
        r = await c.get(f"{job['status_url']}/result")
        assert r.status_code == 409 and "failed: no face found" in r.json()["detail"]


async def test_unexpected_runner_error_is_500_free(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    """A bug in the runner fails the job with a generic message (no traceback text, no paths), not the server."""
    async with api(Settings(data_dir=tmp_path), runner=FakeRunner(ok_result, error=KeyError(str(tmp_path)))) as c:
        job = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        failed, _ = await wait_job(c, job["id"])
        assert failed["state"] == "failed" and "internal error" in failed["error"]
        assert str(tmp_path) not in failed["error"]
        assert (await c.get("/api/health")).status_code == 200


# ------------------------------------------------------------------------------------------------ restart, expiry


async def test_restart_keeps_finished_jobs(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    """Finished jobs survive a restart with their results; jobs cut off by a stop or a crash become failed."""
    data = tmp_path / "data"
    gate = threading.Event()
    runner = FakeRunner(ok_result, gate=gate)
    async with api(Settings(data_dir=data, queue_size=4), runner=runner) as c:
        runner.gate = None
        done = (await c.post("/api/jobs", **form(web_media["clip"], emotion="sad"))).json()
        assert (await wait_job(c, done["id"]))[0]["state"] == "done"
        runner.gate = gate
        runner.started.clear()
        running = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        assert await anyio.to_thread.run_sync(runner.started.wait, 10)
        waiting = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        result_bytes = (await c.get(f"/api/jobs/{done['id']}/result")).content
    # a crash (kill -9) leaves a job that says it is running: simulate one
    crashed = json.loads((data / "jobs" / done["id"] / JOB_FILE).read_text())
    crashed.update(id="C" * 22, state="running", stage="dub", finished_at=None, result=None)
    (data / "jobs" / crashed["id"]).mkdir()
    (data / "jobs" / crashed["id"] / JOB_FILE).write_text(json.dumps(crashed))
    (data / "jobs" / "junk-folder").mkdir()  # not ours: left alone
    (data / "jobs" / ("D" * 22)).mkdir()  # ours but unreadable: removed
    (data / "jobs" / ("D" * 22) / JOB_FILE).write_text("{not json")

    async with api(Settings(data_dir=data), runner=FakeRunner(ok_result)) as c:
        after = (await c.get(f"/api/jobs/{done['id']}")).json()
        assert after["state"] == "done" and after["options"]["emotion"] == "sad"
        assert (await c.get(after["result_url"])).content == result_bytes
        for j in (running, waiting):
            v = (await c.get(f"/api/jobs/{j['id']}")).json()
            assert v["state"] == "failed" and v["error_kind"] == "Interrupted", v
            assert "server stopped" in v["error"] and "submit it again" in v["error"]
        v = (await c.get(f"/api/jobs/{'C' * 22}")).json()
        assert v["state"] == "failed" and "restarted while this job was running" in v["error"]
        assert (await c.get(f"/api/jobs/{'D' * 22}")).status_code == 404
        assert not (data / "jobs" / ("D" * 22)).exists() and (data / "jobs" / "junk-folder").is_dir()
        assert not list((data / "jobs" / running["id"]).glob("*.upload")), "inputs of stopped jobs are deleted"
        # and the restarted server works
        again = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        assert (await wait_job(c, again["id"]))[0]["state"] == "done"


async def test_one_server_per_data_dir(ok_result: Path, tmp_path: Path) -> None:
    from emotalk.errors import ConfigError

    async with api(Settings(data_dir=tmp_path), runner=FakeRunner(ok_result)):
        with pytest.raises(ConfigError, match="another emotalk server is using the data dir"):
            async with api(Settings(data_dir=tmp_path), runner=FakeRunner(ok_result)):
                pass


async def test_results_expire(web_media: dict[str, Path], ok_result: Path, tmp_path: Path) -> None:
    """Finished jobs go after the TTL: removed by the cleaner thread while running, and at start."""
    ttl_h = 1.0 / 3600  # one second
    async with api(
        Settings(data_dir=tmp_path, result_ttl_h=ttl_h, clean_every_s=0.2), runner=FakeRunner(ok_result)
    ) as c:
        job = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        done, _ = await wait_job(c, job["id"])
        assert done["expires_at"] == pytest.approx(done["finished_at"] + 1.0)
        t0 = time.monotonic()
        while (await c.get(job["status_url"])).status_code == 200:
            assert time.monotonic() - t0 < 10, "the job did not expire"
            await anyio.sleep(0.1)
        assert time.monotonic() - t0 > 0.3
        assert not (tmp_path / "jobs" / job["id"]).exists()
        assert (await c.get("/api/health")).json()["queue"]["counters"]["expired"] == 1
        # another finished job, expired while the server was down: gone at start
        job2 = (await c.post("/api/jobs", **form(web_media["clip"]))).json()
        assert (await wait_job(c, job2["id"]))[0]["state"] == "done"
    rec = tmp_path / "jobs" / job2["id"] / JOB_FILE
    state = json.loads(rec.read_text())
    state["finished_at"] -= 3600
    rec.write_text(json.dumps(state))
    async with api(Settings(data_dir=tmp_path, result_ttl_h=1.0), runner=FakeRunner(ok_result)) as c:
        assert (await c.get(job2["status_url"])).status_code == 404
        assert not rec.parent.exists()
