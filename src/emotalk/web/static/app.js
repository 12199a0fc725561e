// emotalk web demo: choose or record a video and audio, submit a job, follow its progress, play the result.
// Plain JavaScript, fetch + JSON against the API of emotalk/web/app.py. No innerHTML with server or user text.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("job-form");
  const els = {
    banner: $("server-status"),
    limits: $("limits"),
    error: $("error"),
    sync: $("sync"),
    cancel: $("cancel"),
    strength: $("strength"),
    strengthValue: $("strength-value"),
    timeline: $("timeline"),
    watermark: $("watermark"),
    progressSection: $("progress-section"),
    progress: $("progress"),
    status: $("status"),
    resultSection: $("result-section"),
    resultTitle: $("result-title"),
    result: $("result"),
    resultCaption: $("result-caption"),
    faceWarning: $("face-warning"),
    download: $("download"),
  };
  const media = {
    video: { input: $("video-file"), button: $("video-record"), preview: $("video-preview"),
             chosen: $("video-chosen"), timer: $("video-timer"), recorded: null, label: "video" },
    audio: { input: $("audio-file"), button: $("audio-record"), preview: $("audio-preview"),
             chosen: $("audio-chosen"), timer: $("audio-timer"), recorded: null, label: "audio" },
  };
  const state = { health: null, job: null, pollTimer: null, recorder: null, pollFailures: 0 };
  const POLL_MS = 400;

  const STATUS_TITLES = {
    400: "The request was not accepted",
    404: "Not found",
    409: "Not ready",
    413: "Too large",
    415: "Not a media file",
    422: "This input cannot be used",
    429: "The server is busy",
    500: "Server error",
    503: "No model is loaded",
  };

  // ------------------------------------------------------------------------------------------ messages

  function showError(text, focusEl) {
    els.error.textContent = text;
    els.error.hidden = false;
    if (focusEl) focusEl.focus();
  }

  function clearError() {
    els.error.hidden = true;
    els.error.textContent = "";
  }

  function setStatus(text, fraction) {
    els.progressSection.hidden = false;
    els.status.textContent = text;
    if (fraction === null) els.progress.removeAttribute("value");  // indeterminate
    else els.progress.value = Math.max(0, Math.min(1, fraction));
  }

  function apiErrorText(resp, body) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    if (!detail) detail = resp.statusText || "no details";
    let text = `${STATUS_TITLES[resp.status] || "Error " + resp.status}: ${detail}`;
    if (resp.status === 429) {
      const retry = resp.headers.get("Retry-After");
      if (retry) text += ` (try again in ${retry} s)`;
    }
    return text;
  }

  async function readJson(resp) {
    try {
      return await resp.json();
    } catch (e) {
      return null;
    }
  }

  function formatBytes(n) {
    if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
    return `${Math.max(1, Math.round(n / 1024))} kB`;
  }

  // ------------------------------------------------------------------------------------------ server status

  async function loadHealth() {
    let resp;
    try {
      resp = await fetch("/api/health", { cache: "no-store" });
    } catch (e) {
      showBanner("The server cannot be reached. Check that `emotalk serve` is running.", false);
      return;
    }
    const h = await readJson(resp);
    if (!h) return;
    state.health = h;
    const m = h.model || {};
    if (m.state === "missing" || m.state === "error") {
      showBanner(`No model is loaded, so videos cannot be dubbed yet. ${m.message || ""}`, false);
      els.sync.disabled = true;
    } else if (m.state === "loading" || m.state === "not loaded") {
      showBanner("The model is loading; jobs sent now wait until it is ready.", false);
      els.sync.disabled = false;
      setTimeout(loadHealth, 2000);
    } else {
      els.banner.hidden = true;
      els.sync.disabled = false;
      if (m.source && m.source.startsWith("default")) {
        showBanner(`Using the demo model (${m.checkpoint}): a tiny test model, so expect rough faces.`, true);
      } else if (m.source && m.source.includes("shipped default")) {
        showBanner(`Using the model that ships with emotalk: ${m.source}. It re-draws the mouth only and has ` +
          "no emotion input, so the emotion choice does not change its output (see its model card).", true);
      }
    }
    const l = h.limits || {};
    if (l.max_upload_mb) {
      els.limits.textContent = `Limits: uploads up to ${l.max_upload_mb} MB in all, videos and audio up to ` +
        `${l.max_duration_s} s, pictures up to ${l.max_side} px on their longest side. Results are kept for ` +
        `${(h.queue && h.queue.ttl_hours) || 24} hours.`;
    }
  }

  function showBanner(text, ok) {
    els.banner.textContent = text;
    els.banner.classList.toggle("ok", !!ok);
    els.banner.hidden = false;
  }

  // ------------------------------------------------------------------------------------------ files and recording

  function currentFile(kind) {
    const m = media[kind];
    if (m.recorded) return m.recorded;
    return m.input.files && m.input.files[0] ? m.input.files[0] : null;
  }

  function onFileChosen(kind) {
    const m = media[kind];
    m.recorded = null;
    const f = m.input.files && m.input.files[0];
    resetPreview(m);
    m.chosen.textContent = f ? `Chosen: ${f.name} (${formatBytes(f.size)})` : "";
    clearError();
  }

  function resetPreview(m) {
    const p = m.preview;
    p.pause();
    p.srcObject = null;
    if (p.dataset.url) URL.revokeObjectURL(p.dataset.url);
    p.removeAttribute("src");
    delete p.dataset.url;
    p.hidden = true;
  }

  function pickMime(kind) {
    if (!window.MediaRecorder || !MediaRecorder.isTypeSupported) return "";
    const options = kind === "video"
      ? ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"]
      : ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
    return options.find((t) => MediaRecorder.isTypeSupported(t)) || "";
  }

  function permissionMessage(err, kind) {
    const device = kind === "video" ? "camera and microphone" : "microphone";
    if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) {
      return `Access to the ${device} was refused. Allow it in the browser (address bar) and try again, ` +
        "or choose a file instead.";
    }
    if (err && (err.name === "NotFoundError" || err.name === "OverconstrainedError")) {
      return `No ${device} was found. Connect one, or choose a file instead.`;
    }
    if (err && err.name === "NotReadableError") {
      return `The ${device} is in use by another program. Close it and try again.`;
    }
    return `Recording could not start (${err && err.name ? err.name : "unknown error"}). Choose a file instead.`;
  }

  async function toggleRecording(kind) {
    clearError();
    if (state.recorder) {
      if (state.recorder.kind === kind) stopRecording();
      else showError("Stop the other recording first.");
      return;
    }
    const m = media[kind];
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError("Recording needs a secure page: open the demo over https:// (serve with --certfile and " +
        "--keyfile) or on localhost, or choose a file instead.", m.input);
      return;
    }
    if (!window.MediaRecorder) {
      showError("This browser cannot record media. Choose a file instead.", m.input);
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(
        kind === "video" ? { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: true } : { audio: true });
    } catch (err) {
      showError(permissionMessage(err, kind), m.button);
      return;
    }
    const mime = pickMime(kind);
    let recorder;
    try {
      recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined);
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      showError(`Recording could not start (${err.name || err}). Choose a file instead.`, m.input);
      return;
    }
    const chunks = [];
    const started = performance.now();
    const maxSeconds = (state.health && state.health.limits && state.health.limits.max_duration_s) || 60;
    recorder.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(state.recorder && state.recorder.timer);
      const seconds = (performance.now() - started) / 1000;
      const type = (recorder.mimeType || mime || (kind === "video" ? "video/webm" : "audio/webm")).split(";")[0];
      const ext = type.endsWith("mp4") ? "mp4" : type.endsWith("ogg") ? "ogg" : "webm";
      const file = new File(chunks, `recording-${kind}.${ext}`, { type });
      state.recorder = null;
      m.button.textContent = kind === "video" ? "Record video again" : "Record audio again";
      m.button.setAttribute("aria-pressed", "false");
      m.timer.textContent = "";
      if (!file.size) {
        showError("The recording is empty. Try again, or choose a file.", m.button);
        return;
      }
      m.recorded = file;
      m.input.value = "";
      resetPreview(m);
      const url = URL.createObjectURL(file);
      m.preview.dataset.url = url;
      m.preview.src = url;
      m.preview.muted = false;
      m.preview.controls = true;
      m.preview.hidden = false;
      m.chosen.textContent = `Recorded ${seconds.toFixed(1)} s of ${kind} (${formatBytes(file.size)}).`;
    };
    if (kind === "video") {
      resetPreview(m);
      m.preview.srcObject = stream;
      m.preview.muted = true;
      m.preview.controls = false;
      m.preview.hidden = false;
      m.preview.play().catch(() => {});
    }
    const timer = setInterval(() => {
      const s = (performance.now() - started) / 1000;
      m.timer.textContent = `● ${s.toFixed(0)} s / ${maxSeconds} s`;
      if (s >= maxSeconds) stopRecording();
    }, 250);
    state.recorder = { kind, recorder, timer };
    recorder.start(250);
    m.button.textContent = "Stop recording";
    m.button.setAttribute("aria-pressed", "true");
    m.chosen.textContent = `Recording ${kind}… press "Stop recording" when done.`;
  }

  function stopRecording() {
    const r = state.recorder;
    if (!r) return;
    clearInterval(r.timer);
    if (r.recorder.state !== "inactive") r.recorder.stop();
  }

  // ------------------------------------------------------------------------------------------ jobs

  function setBusy(busy) {
    els.sync.disabled = busy;
    els.sync.textContent = busy ? "Working…" : "Sync Input";
    els.cancel.hidden = !busy;
  }

  function stageText(job) {
    const pct = `${Math.round((job.progress || 0) * 100)} %`;
    switch (job.stage) {
      case "queued":
        return job.queue_position ? `Waiting in the queue (position ${job.queue_position})…` : "Waiting in the queue…";
      case "starting":
      case "waiting for the model":
        return "Loading the model…";
      case "prepare":
        return "Checking the inputs…";
      case "dub":
        return `Dubbing the face: ${pct}`;
      case "mux":
        return "Writing the video…";
      default:
        return `${job.stage || job.state}: ${pct}`;
    }
  }

  async function submit(ev) {
    ev.preventDefault();
    clearError();
    if (state.recorder) {
      showError("Stop the recording first.", media[state.recorder.kind].button);
      return;
    }
    const video = currentFile("video");
    if (!video) {
      showError("Choose or record a video (or a photo) of a face first.", media.video.input);
      return;
    }
    const audio = currentFile("audio");
    const limits = (state.health && state.health.limits) || {};
    const total = video.size + (audio ? audio.size : 0);
    if (limits.max_upload_mb && total > limits.max_upload_mb * 1024 * 1024) {
      showError(`Too large: the files add up to ${formatBytes(total)}; at most ${limits.max_upload_mb} MB ` +
        "can be uploaded. Choose a shorter or smaller video.", media.video.input);
      return;
    }
    const emotion = form.querySelector('input[name="emotion"]:checked');
    const fd = new FormData();
    fd.append("video", video, video.name || "video");
    if (audio) fd.append("audio", audio, audio.name || "audio");
    fd.append("emotion", emotion ? emotion.value : "neutral");
    fd.append("strength", els.strength.value);
    if (els.timeline.value.trim()) fd.append("timeline", els.timeline.value.trim());
    fd.append("watermark", els.watermark.checked ? "true" : "false");

    els.resultSection.hidden = true;
    els.result.removeAttribute("src");
    setBusy(true);
    setStatus(`Uploading ${formatBytes(total)}…`, null);
    let resp;
    try {
      resp = await fetch("/api/jobs", { method: "POST", body: fd });
    } catch (err) {
      setBusy(false);
      els.progressSection.hidden = true;
      showError("Could not reach the server to upload the files. Check the connection and try again.");
      return;
    }
    const body = await readJson(resp);
    if (resp.status !== 202 || !body) {
      setBusy(false);
      els.progressSection.hidden = true;
      showError(apiErrorText(resp, body), els.sync);
      return;
    }
    state.job = body;
    state.pollFailures = 0;
    setStatus(stageText(body), body.progress || 0);
    state.pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    const job = state.job;
    if (!job) return;
    let resp;
    try {
      resp = await fetch(job.status_url, { cache: "no-store" });
    } catch (err) {
      state.pollFailures += 1;
      if (state.pollFailures > 20) {
        finish();
        showError("Lost the connection to the server. Reload the page to try again.");
        return;
      }
      els.status.textContent = "Connection lost; retrying…";
      state.pollTimer = setTimeout(poll, Math.min(5000, POLL_MS * 2 ** state.pollFailures));
      return;
    }
    state.pollFailures = 0;
    if (state.job !== job) return;  // cancelled meanwhile
    const body = await readJson(resp);
    if (!resp.ok || !body) {
      finish();
      showError(apiErrorText(resp, body));
      return;
    }
    if (body.state === "done") {
      finish();
      showResult(body);
    } else if (body.state === "failed") {
      finish();
      setStatus("Failed.", body.progress || 0);
      showError(`The dub failed: ${body.error || "unknown error"}`, els.sync);
    } else {
      setStatus(stageText(body), body.progress || 0);
      state.pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  function finish() {
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
    state.job = null;
    setBusy(false);
  }

  function showResult(job) {
    setStatus("Done: the synthetic video is ready below.", 1);
    const r = job.result || {};
    els.result.src = job.result_url;
    els.download.href = job.download_url;
    els.download.setAttribute("download", `emotalk-synthetic-${job.options.emotion}.mp4`);
    const secs = r.seconds ? `, ${r.seconds.toFixed(1)} s` : "";
    const emo = (job.options && job.options.description) || job.options.emotion;
    els.resultCaption.textContent = `AI-generated (synthetic) video made with emotalk: emotion ${emo}${secs}. ` +
      "Keep this label when you share it.";
    els.faceWarning.textContent = r.face_warning ? `Warning: ${r.face_warning}.` : "";
    els.faceWarning.hidden = !r.face_warning;
    els.resultSection.hidden = false;
    els.resultTitle.focus();
  }

  async function cancel() {
    const job = state.job;
    if (!job) return;
    finish();
    try {
      await fetch(job.status_url, { method: "DELETE" });
    } catch (err) {
      // the job expires on the server anyway
    }
    setStatus("Cancelled.", 0);
  }

  // ------------------------------------------------------------------------------------------ wiring

  for (const kind of ["video", "audio"]) {
    media[kind].input.addEventListener("change", () => onFileChosen(kind));
    media[kind].button.addEventListener("click", () => toggleRecording(kind));
  }
  els.strength.addEventListener("input", () => {
    els.strengthValue.textContent = `${Math.round(els.strength.value * 100)} %`;
  });
  els.result.addEventListener("error", () => {
    if (els.result.getAttribute("src")) showError("The result could not be played here; use the download link.");
  });
  form.addEventListener("submit", submit);
  els.cancel.addEventListener("click", cancel);
  loadHealth();
})();
