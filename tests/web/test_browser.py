"""End to end in a real browser: Playwright drives the system's headless Chromium against `emotalk serve`.

Chromium cannot be downloaded here, so Playwright is pointed at the system executable ($EMOTALK_CHROMIUM, else
/usr/bin/chromium or `chromium` on PATH; .ci/run installs it with apt). The recording path uses Chromium's fake
camera and microphone, fed with a real talking-face clip and real speech so that the dub finds a face.
Screenshots go to outputs/tests/web/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urljoin

import pytest

from emotalk.ffmpeg import run_ffmpeg
from emotalk.web.loadtest import ServerProcess

pytestmark = pytest.mark.media

SHOTS = Path(__file__).resolve().parents[2] / "outputs" / "tests" / "web"
JOB_TIMEOUT_MS = 120_000


def chromium_path() -> str | None:
    for candidate in (os.environ.get("EMOTALK_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser(
    web_media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, missing_resource: Callable[[str], NoReturn]
) -> Iterator[Any]:
    exe = chromium_path()
    if exe is None:
        missing_resource("no Chromium here for the browser tests (apt-get install chromium, or set EMOTALK_CHROMIUM)")
    try:
        from playwright import sync_api
    except ImportError:
        missing_resource("playwright is in the dev extras: pip install -e .[dev]")
    d = tmp_path_factory.mktemp("fake_devices")
    camera = d / "face.y4m"  # Chromium's fake camera plays this real talking face in a loop
    flv = web_media["clip"]
    run_ffmpeg(["-y", "-i", str(flv), "-t", "2", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(camera)])
    args = [
        "--no-sandbox",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
        f"--use-file-for-fake-audio-capture={web_media['speech']}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=args)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(
    tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    cwd = tmp_path_factory.mktemp("browser_server")
    failed = request.session.testsfailed
    with ServerProcess(["--checkpoint", str(tiny_ckpt), "--data-dir", "web"], cwd=cwd) as s:
        yield s
        if request.session.testsfailed > failed:  # what the server was doing, with every thread's stack
            print(f"server log after a failed browser test:\n{s.dump_stacks()}")


@pytest.fixture(scope="module")
def long_clip(web_media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of the talking face with its own sound (the clip looped): long enough to watch the progress move."""
    out = tmp_path_factory.mktemp("long") / "long_clip.mp4"
    run_ffmpeg(["-y", "-stream_loop", "3", "-i", str(web_media["clip"]), "-t", "4", "-c:v", "libx264", "-preset",
                "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)])  # fmt: skip
    return out


def page_for(browser: Any, url: str, **context: Any) -> Any:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    # uncaught script errors, and console errors other than the HTTP errors the tests provoke on purpose
    page.on(
        "console", lambda m: page.errors.append(m.text) if m.type == "error" and "status of" not in m.text else None
    )
    page.goto(url)
    return page


def watch_progress(page: Any) -> None:
    """Record the progress bar's value every 30 ms (to check it is fed by the job's real progress)."""
    page.evaluate(
        "() => { window.__seen = []; setInterval(() => { const p = document.getElementById('progress');"
        " if (p.hasAttribute('value')) window.__seen.push(p.value); }, 30); }"
    )


def check_result(page: Any, shot: str, emotion: str) -> dict[str, Any]:
    """Wait for the player, then check that the result really plays; save a screenshot."""
    page.wait_for_selector("#result-section", state="visible", timeout=JOB_TIMEOUT_MS)
    video = page.locator("#result")
    info = video.evaluate(
        """async (v) => {
            if (v.readyState < 2) await new Promise((ok, bad) => {
                v.addEventListener('loadeddata', ok, {once: true});
                v.addEventListener('error', () => bad(new Error('video error ' + (v.error && v.error.code))));
            });
            v.muted = true;
            await v.play();
            const t0 = v.currentTime;
            await new Promise((ok) => setTimeout(ok, 600));
            v.pause();
            return {ready: v.readyState, width: v.videoWidth, height: v.videoHeight, duration: v.duration,
                    advanced: v.currentTime - t0, src: v.currentSrc, error: v.error && v.error.code};
        }"""
    )
    assert info["error"] is None and info["ready"] >= 2, info
    assert info["width"] > 0 and info["height"] > 0 and info["duration"] > 0.5, info
    assert info["advanced"] > 0.1, f"the result did not play: {info}"
    assert page.locator(".synthetic-badge").is_visible()
    assert "synthetic" in page.locator("#result-caption").inner_text().lower()
    assert emotion in page.locator("#result-caption").inner_text()
    href = page.locator("#download").get_attribute("href")
    assert href.endswith("/result?download=1")
    dl = page.request.get(urljoin(page.url, href))
    assert dl.status == 200 and dl.headers["content-type"] == "video/mp4"
    assert dl.headers["content-disposition"].startswith("attachment")
    assert page.locator("#status").inner_text().startswith("Done")
    assert page.locator("#cancel").is_hidden() and page.get_by_role("button", name="Sync Input").is_enabled()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / shot), full_page=True)
    return info


def test_pick_files_and_sync(browser: Any, server: ServerProcess, web_media: dict[str, Path], long_clip: Path) -> None:
    """Choose the files, an emotion and its strength, Sync Input: the progress bar moves, the result plays."""
    page = page_for(browser, server.url)
    assert page.title().startswith("emotalk")
    page.wait_for_function("() => !document.getElementById('sync').disabled")
    assert "Limits: uploads up to" in page.locator("#limits").inner_text()

    # errors show in the page: no video chosen, then a file that is not media (the API's 415)
    page.get_by_role("button", name="Sync Input").click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "Choose or record a video" in alert.inner_text()
    page.set_input_files("#video-file", str(web_media["text"]))
    page.get_by_role("button", name="Sync Input").click()
    page.wait_for_function("() => document.getElementById('error').textContent.includes('Not a media file')")
    assert "not a video, photo or audio file" in alert.inner_text()

    page.set_input_files("#audio-file", str(web_media["speech"]))
    page.set_input_files("#audio-file", [])  # changed my mind: the video's own sound
    page.set_input_files("#video-file", str(long_clip))
    assert "long_clip.mp4" in page.locator("#video-chosen").inner_text()
    assert page.locator("#video-preview").is_hidden() and page.locator("#audio-preview").is_hidden()
    assert alert.is_hidden()
    page.get_by_label("Happy").check()
    strength = page.get_by_label("Strength")
    strength.focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")  # 1.0 → 0.8 in steps of 0.05
    assert page.locator("#strength-value").inner_text() == "80 %"
    watch_progress(page)
    page.get_by_role("button", name="Sync Input").click()
    page.wait_for_selector("#progress-section", state="visible")
    check_result(page, "pick_files.png", "happy@0.8")
    seen = page.evaluate("window.__seen")
    assert any(0 < v < 1 for v in seen), f"the progress bar never showed partial progress: {sorted(set(seen))}"
    assert seen[-1] == 1
    assert not page.errors, page.errors
    page.context.close()


def test_record_with_camera_and_microphone(browser: Any, server: ServerProcess) -> None:
    """Record the face and the speech with the (fake) camera and microphone on a phone-sized screen, keyboard
    only, then Sync Input."""
    page = page_for(browser, server.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.wait_for_function("() => !document.getElementById('sync').disabled")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow} px"

    for kind, seconds in (("video", 2.0), ("audio", 1.6)):
        button = page.locator(f"#{kind}-record")
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_function(
            f"() => document.getElementById('{kind}-record').getAttribute('aria-pressed') === 'true'"
        )
        if kind == "video":
            page.wait_for_function("() => document.getElementById('video-preview').readyState >= 2")
        page.wait_for_timeout(seconds * 1000)
        page.keyboard.press("Enter")  # the same button, now "Stop recording"
        page.wait_for_function(f"() => document.getElementById('{kind}-chosen').textContent.startsWith('Recorded')")
        assert page.get_by_role("alert").is_hidden(), page.get_by_role("alert").inner_text()
    # keyboard: the emotion radios move with the arrow keys
    page.get_by_label("Neutral").focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_label("Happy").is_checked()
    page.keyboard.press("ArrowRight")
    assert page.get_by_label("Sad").is_checked()
    page.get_by_role("button", name="Sync Input").focus()
    watch_progress(page)
    page.keyboard.press("Enter")
    check_result(page, "record_phone.png", "sad")
    assert not page.errors, page.errors
    page.context.close()


def test_sync_waits_for_the_server_status(browser: Any, server: ServerProcess) -> None:
    """Until the server has said whether a model is loaded, Sync Input stays off and no limits are shown."""
    ctx = browser.new_context()
    page = ctx.new_page()
    held: list[Any] = []
    page.route("**/api/health", lambda route: held.append(route))
    page.goto(server.url)
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(25)
    assert held, "the page never asked for /api/health"
    assert page.get_by_role("button", name="Sync Input").is_disabled()
    assert page.locator("#limits").inner_text() == ""
    held[0].continue_()
    page.wait_for_function("() => !document.getElementById('sync').disabled")
    assert "Limits: uploads up to" in page.locator("#limits").inner_text()
    ctx.close()


def test_page_without_model(browser: Any, tmp_path: Path) -> None:
    with ServerProcess(["--data-dir", "web"], cwd=tmp_path, env={"EMOTALK_CHECKPOINT": "none"}) as s:
        page = page_for(browser, s.url)
        banner = page.locator("#server-status")
        banner.wait_for(state="visible")
        assert "No model is loaded" in banner.inner_text() and "--checkpoint" in banner.inner_text()
        assert page.get_by_role("button", name="Sync Input").is_disabled()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "no_model.png"))
        page.context.close()
