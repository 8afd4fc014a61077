// Compose page: count and reading time, "how it will be read", hear-test, record/upload, when, send.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compose");
  const $ = (sel) => form.querySelector(sel);
  const t = LoaXa.t;
  const rate = Number(form.dataset.rate) || 140;
  Targets.init(form);

  // ---- text: character count and estimated reading time
  const text = $("#text");
  const count = $("#text-count");
  function duration(s) {
    s = Math.max(1, Math.round(s));
    return s < 60 ? t("sec", { s }) : t("min", { m: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
  }
  function updateCount() {
    const words = text.value.trim() ? text.value.trim().split(/\s+/).length : 0;
    count.textContent = t("chars", { n: text.value.length }) + (words ? " · " + t("reading", { t: duration((words / rate) * 60) }) : "");
  }
  text.addEventListener("input", updateCount);
  updateCount();

  // ---- content kind panes
  const kind = () => form.querySelector('input[name="kind"]:checked').value;
  function showKind() {
    $("#pane-text").hidden = kind() !== "text";
    $("#pane-record").hidden = kind() !== "record";
    $("#pane-upload").hidden = kind() !== "upload";
    $("#audio-box").hidden = kind() === "text" || !form.audio_sha256.value;
  }
  form.querySelectorAll('input[name="kind"]').forEach((r) => r.addEventListener("change", showKind));
  showKind();

  // ---- how it will be read, and the hear-test
  $("#btn-normalise").addEventListener("click", async () => {
    if (!text.value.trim()) return LoaXa.showErrors(form, { text: t("need_text") });
    const r = await LoaXa.api("POST", "/api/v1/speech/normalise", { text: text.value });
    if (!r.ok) return LoaXa.showErrors(form, (r.data && r.data.fields) || {}, r.data.error);
    $("#normalised").textContent = r.data.normalised;
    $("#normalised-box").hidden = false;
  });
  $("#btn-preview").addEventListener("click", async (ev) => {
    if (!text.value.trim()) return LoaXa.showErrors(form, { text: t("need_text") });
    const btn = ev.currentTarget;
    const voice = $("#preview-voice");
    btn.disabled = true;
    $("#preview-box").hidden = false;
    voice.className = "";
    voice.textContent = t("rendering");
    const r = await LoaXa.api("POST", "/api/v1/speech/preview", { text: text.value });
    btn.disabled = false;
    if (!r.ok) { voice.className = "notice bad"; voice.textContent = t("failed", { why: r.data.error }); return; }
    const audio = $("#preview-audio");
    audio.src = r.data.url;
    audio.dataset.sha256 = r.data.sha256;
    audio.play().catch(() => {});
    // which voice read it (engine, voice, quality class); the warning follows the quality class
    const sp = r.data.speech || { engine: (r.data.engines || []).join("+"), voice: "", quality: r.data.quality };
    voice.dataset.quality = sp.quality;
    voice.className = sp.quality === "robotic" ? "notice warn" : "notice ok";
    const line = document.createElement("span");
    line.className = "voice-line";
    line.textContent = t("natural", { engine: LoaXa.voiceLabel(sp) });
    voice.replaceChildren(...(sp.quality === "robotic" ? [t("robotic"), document.createElement("br")] : []), line);
    if (sp.note) {
      const note = document.createElement("span");
      note.className = "hint";
      note.textContent = sp.note;
      voice.append(document.createElement("br"), note);
    }
    $("#normalised").textContent = r.data.normalised;
    $("#normalised-box").hidden = false;
  });

  // ---- audio: record in the browser or upload a file
  async function storeAudio(blob, type, status) {
    status.textContent = t("sending");
    const r = await LoaXa.api("POST", "/api/v1/audio", blob, { "Content-Type": type });
    if (!r.ok) { status.textContent = t("upload_failed", { why: r.data.error }); return; }
    form.audio_sha256.value = r.data.sha256;
    $("#audio-player").src = r.data.url;
    $("#audio-box").hidden = false;
    status.textContent = t("uploaded", { s: r.data.duration_s != null ? Math.round(r.data.duration_s) : "?" });
  }
  let recorder = null;
  $("#btn-rec").addEventListener("click", async () => {
    const status = $("#rec-status");
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
    catch (err) { status.textContent = t("mic_denied"); return; }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((tr) => tr.stop());
      const type = (recorder.mimeType || "audio/webm").split(";")[0];
      storeAudio(new Blob(chunks, { type }), type, status);
    };
    recorder.start();
    status.textContent = t("recording");
    $("#btn-rec").disabled = true;
    $("#btn-stop").disabled = false;
  });
  $("#btn-stop").addEventListener("click", () => {
    if (recorder && recorder.state === "recording") recorder.stop();
    $("#btn-rec").disabled = false;
    $("#btn-stop").disabled = true;
  });
  $("#audio-file").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    if (file) storeAudio(file, file.type || "audio/wav", $("#upload-status"));
  });

  // ---- when
  const when = () => form.querySelector('input[name="when"]:checked').value;
  const recKind = $("#rec-kind");
  function showWhen() {
    $("#when-at").hidden = when() !== "at";
    $("#when-repeat").hidden = when() !== "repeat";
    $("#rec-weekly").hidden = recKind.value !== "weekly";
    $("#rec-monthly").hidden = recKind.value !== "monthly";
    $("#btn-send").textContent = form.dataset.edit ? t("save") : when() === "now" ? t("send_now") : t("schedule");
  }
  form.querySelectorAll('input[name="when"]').forEach((r) => r.addEventListener("change", showWhen));
  recKind.addEventListener("change", showWhen);
  showWhen();

  // ---- build the API body; field errors in plain words before anything is sent
  function build() {
    const errors = {};
    const body = { title: form.title.value.trim(), priority: form.querySelector('input[name="priority"]:checked').value,
      repeat: Number(form.repeat.value), chime: form.chime.checked,
      volume: form.volume.value ? Number(form.volume.value) : null, send_at: null, recurrence: null };
    if (kind() === "text") {
      body.kind = "text"; body.text = text.value;
      if (!text.value.trim()) errors.text = t("need_text");
    } else {
      body.kind = "audio"; body.text = text.value; body.audio_sha256 = form.audio_sha256.value || null;
      if (!body.audio_sha256) errors.audio_sha256 = t("need_audio");
    }
    const tg = Targets.collect(form);
    if (tg.error) errors.targets = tg.error; else body.targets = tg.targets;
    if (when() === "at") {
      const d = $("#at-date").value, tm = $("#at-time").value;
      if (!d || !tm) errors.send_at = t("need_time");
      else {
        body.send_at = `${d}T${tm}:00+07:00`;
        if (Date.parse(body.send_at) < Date.now()) errors.send_at = t("past");
      }
    } else if (when() === "repeat") {
      const rec = { kind: recKind.value, at: $("#rec-time").value, start_date: $("#rec-from").value || null, end_date: $("#rec-to").value || null };
      if (!rec.at) errors.recurrence = t("need_time");
      if (rec.kind === "weekly") {
        rec.weekdays = [...form.querySelectorAll('input[name="weekday"]:checked')].map((b) => Number(b.value));
        if (!rec.weekdays.length) errors.recurrence = t("need_days");
      }
      if (rec.kind === "monthly") {
        rec.month_days = $("#rec-mdays").value.split(/[ ,;]+/).filter(Boolean).map(Number);
        if (!rec.month_days.length || rec.month_days.some((n) => !(n >= 1 && n <= 31))) errors.recurrence = t("need_month_days");
      }
      if (!rec.end_date) errors.recurrence = errors.recurrence || t("need_end");
      else if (rec.start_date && rec.end_date < rec.start_date) errors.recurrence = t("end_before");
      body.recurrence = rec;
      if (rec.end_date) body.expires_at = `${rec.end_date}T23:59:59+07:00`;
    }
    return { body, errors, tg };
  }

  async function send(body) {
    const btn = $("#btn-send");
    btn.disabled = true;
    btn.textContent = t("sending");
    const edit = form.dataset.edit;
    const r = edit ? await LoaXa.api("PATCH", `/api/v1/bulletins/${edit}`, body) : await LoaXa.api("POST", "/api/v1/bulletins", body);
    btn.disabled = false;
    showWhen();
    if (r.ok) { location.href = `/bulletins/${r.data.bulletin.id}`; return; }
    LoaXa.showErrors(form, (r.data && r.data.fields) || {}, t("failed", { why: (r.data && r.data.error) || "?" }));
  }

  const dialog = document.getElementById("confirm-emergency");
  let pending = null;
  document.getElementById("ce-yes").addEventListener("click", () => { dialog.close(); if (pending) send(pending); pending = null; });
  document.getElementById("ce-no").addEventListener("click", () => { dialog.close(); pending = null; });

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const { body, errors, tg } = build();
    if (Object.keys(errors).length) return LoaXa.showErrors(form, errors, t("check_fields"));
    LoaXa.showErrors(form, {});
    if (body.priority === "emergency") {
      pending = body;
      const where = tg.names.length ? tg.names.join(", ") : form.querySelector('input[name="target_mode"]:checked').closest("label").querySelector(".label").textContent;
      document.getElementById("ce-text").textContent = t("emergency_confirm", { n: tg.count, where });
      dialog.showModal();
      return;
    }
    send(body);
  });
});
