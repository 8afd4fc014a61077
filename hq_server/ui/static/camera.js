// One camera: a fresh snapshot on request, and the on-demand live view (relayed by HQ, ends by itself).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const card = document.getElementById("picture-card");
  if (!card) return;
  const t = LoaXa.t;
  const id = card.dataset.camera;
  const picture = document.getElementById("cam-picture");
  const liveImg = document.getElementById("live-img");
  const picStatus = document.getElementById("pic-status");
  const liveInfo = document.getElementById("live-info");
  const btnLive = document.getElementById("btn-live"), btnStop = document.getElementById("btn-live-stop");
  const until = (ms) => new Promise((r) => setTimeout(r, ms));

  document.getElementById("btn-snapshot")?.addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    btn.disabled = true;
    picStatus.textContent = t("snapshot_wait");
    const r = await LoaXa.api("POST", `/api/v1/cameras/${encodeURIComponent(id)}/snapshot`);
    if (!r.ok) { btn.disabled = false; picStatus.textContent = t("snapshot_failed", { why: r.data.error }); return; }
    for (let i = 0; i < 120; i++) { // the node has 2 minutes to upload it
      await until(1000);
      const s = await LoaXa.api("GET", r.data.status_url);
      const state = s.ok ? s.data.snapshot.state : "requested";
      if (state === "uploaded") {
        if (liveImg.hidden) { picture.src = `${r.data.latest_url}?v=${r.data.request_id}`; picture.hidden = false; }
        document.getElementById("no-picture").hidden = true;
        picStatus.textContent = t("snapshot_done");
        break;
      }
      if (state === "failed" || state === "expired") { picStatus.textContent = t("snapshot_failed", { why: s.data.snapshot.reason || state }); break; }
    }
    btn.disabled = false;
  });

  let live = null;
  const mmss = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  function endLive(reason, detail) {
    liveImg.removeAttribute("src"); // closes the stream: never a frozen last frame shown as live
    liveImg.hidden = true;
    picture.hidden = !picture.getAttribute("src");
    btnLive.hidden = false;
    btnStop.hidden = true;
    card.dataset.live = "ended";
    liveInfo.className = "notice info";
    liveInfo.textContent = t("live_ended", { why: (t("end_" + reason) !== "end_" + reason ? t("end_" + reason) : reason) + (detail ? ` (${detail})` : "") });
    live = null;
  }
  async function follow(session) {
    while (live && live.id === session.id) {
      const r = await LoaXa.api("GET", session.status_url);
      if (!r.ok) { endLive("stopped", r.data.error); return; }
      const s = r.data.live;
      card.dataset.frames = s.frames;
      if (s.state === "ended") { endLive(s.ended, s.detail); return; }
      liveInfo.className = "";
      liveInfo.textContent = s.state === "starting" ? t("live_starting") : t("live_on", { left: mmss(s.ends_in_s), frames: s.frames });
      await until(1000);
    }
  }
  btnLive?.addEventListener("click", async () => {
    btnLive.disabled = true;
    liveInfo.className = "";
    liveInfo.textContent = t("live_starting");
    const r = await LoaXa.api("POST", `/api/v1/cameras/${encodeURIComponent(id)}/live`);
    btnLive.disabled = false;
    if (!r.ok) { liveInfo.className = "notice bad"; liveInfo.textContent = t("failed", { why: r.data.error }); return; }
    live = r.data.live;
    card.dataset.live = live.id;
    liveImg.src = live.stream_url;
    liveImg.hidden = false;
    picture.hidden = true;
    document.getElementById("no-picture").hidden = true;
    btnLive.hidden = true;
    btnStop.hidden = false;
    follow(live);
  });
  btnStop?.addEventListener("click", async () => {
    if (!live) return;
    const r = await LoaXa.api("POST", `/api/v1/live/${live.id}/stop`);
    if (r.ok) endLive("stopped");
  });
});
