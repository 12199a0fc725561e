"""`emotalk serve` as a real process on the loopback: no checkpoint, HTTPS with a self-signed certificate made here,
and the load test (20 submissions and 200 status polls at once while a job runs)."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
from pathlib import Path

import httpx
import pytest

from emotalk.web.loadtest import ServerProcess, load_test, self_signed_cert

pytestmark = pytest.mark.media
NO_DEFAULT_MODEL = {"EMOTALK_CHECKPOINT": "none"}  # not even the shipped model


def test_serve_without_checkpoint(tmp_path: Path) -> None:
    """No --checkpoint, no $EMOTALK_CHECKPOINT, no `make demo` model here: it starts and says so."""
    with ServerProcess(["--data-dir", "web"], cwd=tmp_path, env=NO_DEFAULT_MODEL) as server:
        health = server.health()
        assert health["status"] == "no model" and health["model"]["state"] == "missing"
        assert "--checkpoint" in health["model"]["message"]
        r = httpx.post(f"{server.url}/api/jobs", files={"video": ("v.mp4", b"0")})
        assert r.status_code == 503
        assert "Sync Input" in httpx.get(server.url).text
        stacks = server.dump_stacks()  # SIGUSR1: every thread's stack, and the server goes on answering
        assert "most recent call first" in stacks and "uvicorn" in stacks and stacks.count("Thread 0x") >= 2
        assert server.health()["status"] == "no model"
        code = server.stop()
    assert code == 0, server.output()
    assert "model: none" in server.output()


def test_serve_refuses_bad_settings(tmp_path: Path) -> None:
    for args, words in [
        (["--checkpoint", "missing.ckpt"], "checkpoint not found: missing.ckpt"),
        (["--certfile", "cert.pem"], "HTTPS needs both --certfile and --keyfile"),
        (["--queue-size", "0"], "--queue-size must be positive"),
    ]:
        with (
            pytest.raises(RuntimeError, match="exited with 2") as info,
            ServerProcess(args, cwd=tmp_path, env=NO_DEFAULT_MODEL, start_timeout=30),
        ):
            pass
        assert words in str(info.value)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed to make a certificate")
def test_https(tmp_path: Path, tiny_ckpt: Path, web_media: dict[str, Path]) -> None:
    """HTTPS with a certificate made by the test: health, the page and a whole job over TLS; plain HTTP and
    clients that do not trust the certificate are refused."""
    cert, key = self_signed_cert(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    args = ["--checkpoint", str(tiny_ckpt), "--certfile", str(cert), "--keyfile", str(key), "--data-dir", "web"]
    with ServerProcess(args, cwd=tmp_path, verify=trust) as server:
        assert server.url.startswith("https://")
        health = server.health()
        assert health["https"] is True and health["model"]["checkpoint"] == "tiny.ckpt"
        with httpx.Client(base_url=server.url, verify=trust, timeout=60) as c:
            page = c.get("/")
            assert "Sync Input" in page.text and "camera=(self)" in page.headers["permissions-policy"]
            files = {
                "video": ("clip.mp4", web_media["clip"].read_bytes()),
                "audio": ("speech.wav", web_media["speech"].read_bytes()),
            }
            job = c.post("/api/jobs", files=files, data={"emotion": "angry"}).json()
            for _ in range(600):
                view = c.get(job["status_url"]).json()
                if view["state"] in ("done", "failed"):
                    break
                asyncio.run(asyncio.sleep(0.1))
            assert view["state"] == "done", view
            result = c.get(view["result_url"])
            assert result.status_code == 200 and result.content[4:8] == b"ftyp"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/api/health")  # the system's trust store does not know our certificate
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url.replace("https://", "http://") + "/api/health")


def test_load(tmp_path: Path, tiny_ckpt: Path, web_media: dict[str, Path]) -> None:
    """20 submissions and 200 status polls at once while a job runs: no 5xx, the bound holds, nothing is lost."""
    queue = 6
    args = ["--checkpoint", str(tiny_ckpt), "--queue-size", str(queue), "--data-dir", "web"]
    with ServerProcess(args, cwd=tmp_path) as server:
        report = asyncio.run(load_test(server.url, web_media["clip"], web_media["speech"], submissions=20, polls=200))
    (tmp_path / "load.json").write_text(json.dumps(report, indent=1))
    print("load test:", json.dumps(report))
    assert report["server_errors"] == 0, report
    assert report["other_submit_codes"] == [], report
    assert report["accepted"] + report["refused_429"] == 20
    # the worker is busy with the first job, so the first `queue` submissions fit and the rest (nearly all) do not
    assert queue <= report["accepted"] < 20 and report["refused_429"] > 0
    assert report["retry_after_on_every_429"]
    assert report["peak_waiting_server"] <= queue and report["peak_waiting_seen"] <= queue
    assert report["status_calls"] == 200 and report["http_codes"][200] >= 200
    assert report["unfinished"] == [] and report["lost"] == []
    assert report["final_states"] == {"done": report["jobs_total"]}, report
    assert report["counters"]["accepted"] == report["counters"]["done"] == report["jobs_total"]
    assert report["jobs_per_minute"] > 0
