// Live camera wall (and a camera page's header): states, counts, newest pictures, problems first, no reload.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("wall");
  if (!root) return;
  const t = LoaXa.t;
  const status = document.getElementById("live-status");
  const tiles = document.getElementById("tiles");
  const picUrl = (id, v) => `/api/v1/cameras/${encodeURIComponent(id)}/snapshot/latest?v=${encodeURIComponent(v)}`;

  function picture(el, c) {
    if (!c.snapshot || el.dataset.snapshot === c.snapshot) return;
    el.dataset.snapshot = c.snapshot;
    el.dataset.snapshotIso = c.snapshot_iso;
    const box = el.querySelector(".tile-pic");
    if (box) {
      let img = box.querySelector("img");
      if (!img) { img = document.createElement("img"); img.alt = c.name; box.replaceChildren(img); }
      img.src = picUrl(c.id, c.snapshot);
    }
    if (el.id === "cam-head") { // the camera page's own picture
      const img = document.getElementById("cam-picture");
      if (img && document.getElementById("live-img").hidden) { img.src = picUrl(c.id, c.snapshot); img.hidden = false; }
      document.getElementById("no-picture")?.setAttribute("hidden", "");
      const when = document.getElementById("pic-time");
      if (when) when.textContent = c.snapshot_at;
    }
  }

  function update(el, c) {
    el.dataset.state = c.state;
    if (el.classList.contains("tile")) el.className = "tile " + c.tone;
    el.querySelectorAll("[data-field]").forEach((cell) => {
      const key = cell.dataset.field;
      if (!(key in c)) return;
      cell.textContent = c[key] || (key === "snapshot_at" ? "—" : "");
      if (key === "state_text") cell.className = "tag " + c.tone;
    });
    picture(el, c);
  }

  function render(snap) {
    for (const [k, v] of Object.entries(snap.counts)) root.querySelectorAll(`[data-count="${k}"]`).forEach((el) => (el.textContent = v));
    let unknown = false;
    for (const c of snap.cameras) {
      const els = root.querySelectorAll(`[data-camera="${CSS.escape(c.id)}"]`);
      if (!els.length && tiles) unknown = true;
      els.forEach((el) => update(el, c));
    }
    if (tiles) { // problems first: the order HQ sent
      for (const c of snap.cameras) {
        const tile = tiles.querySelector(`.tile[data-camera="${CSS.escape(c.id)}"]`);
        if (tile) tiles.append(tile);
      }
      if (unknown) location.reload(); // a camera HQ has just met: rendered by the server
    }
  }

  const es = window.EventSource ? new EventSource(root.dataset.stream) : null;
  es?.addEventListener("cameras", (ev) => { render(JSON.parse(ev.data)); if (status) status.textContent = ""; });
  if (es) es.onerror = () => { if (status) status.textContent = t("live_lost"); };

  // pictures older than the refresh age (or none) of working cameras are asked for again while the wall is open
  const refresh = Number(root.dataset.refresh || 0);
  async function refreshPictures() {
    if (!tiles || !refresh) return;
    for (const tile of tiles.querySelectorAll(".tile")) {
      const at = Date.parse(tile.dataset.snapshotIso || "") || 0;
      if (tile.dataset.state !== "ok" || Date.now() - at < refresh * 1000) continue;
      tile.dataset.snapshotIso = new Date().toISOString(); // asked: not again before the next period
      await LoaXa.api("POST", `/api/v1/cameras/${encodeURIComponent(tile.dataset.camera)}/snapshot`);
    }
  }
  if (refresh) { setTimeout(refreshPictures, 2000); setInterval(refreshPictures, 60000); }

  document.getElementById("btn-snap-all")?.addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    btn.disabled = true;
    let n = 0;
    for (const tile of tiles.querySelectorAll(".tile")) {
      if (tile.dataset.state === "node_offline") continue;
      const r = await LoaXa.api("POST", `/api/v1/cameras/${encodeURIComponent(tile.dataset.camera)}/snapshot`);
      if (r.ok) n++;
    }
    btn.disabled = false;
    if (status) status.textContent = t("snapshot_all", { n });
  });
});
