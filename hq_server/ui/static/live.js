// Live delivery: every loudspeaker's state from HQ's event stream, without reloading the page.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("live");
  if (!root) return;
  const t = LoaXa.t;
  const id = root.dataset.id;
  const tbody = document.querySelector("#deliveries tbody");
  const status = document.getElementById("live-status");
  const resend = document.getElementById("btn-resend");
  const msg = document.getElementById("action-msg");

  function cell(label, content, cls) {
    const td = document.createElement("td");
    td.dataset.label = label;
    if (cls) td.className = cls;
    if (content instanceof Node) td.append(content); else td.textContent = content;
    return td;
  }
  const headers = [...document.querySelectorAll("#deliveries thead th")].map((th) => th.textContent);

  function render(snap) {
    const state = document.getElementById("b-state");
    state.textContent = snap.bulletin.state_text;
    state.className = "tag " + (snap.bulletin.state === "completed" ? "ok" : ["cancelled", "expired"].includes(snap.bulletin.state) ? "bad" : "live");
    tbody.querySelector("tr.empty")?.remove();
    for (const d of snap.deliveries) {
      let tr = tbody.querySelector(`tr[data-node="${CSS.escape(d.node)}"]`);
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.node = d.node;
        tbody.append(tr);
      }
      const tag = document.createElement("span");
      tag.className = "tag " + d.tone;
      tag.dataset.state = d.state;
      tag.textContent = d.state_text;
      let detail = d.reason_text || "";
      if (d.state === "played" && d.started_text) detail = (detail + " " + t("played_between", { a: d.started_text, b: d.ended_text })).trim();
      tr.replaceChildren(cell(headers[0], d.node), cell(headers[1], d.villages.join(", ")), cell(headers[2], tag), cell(headers[3], detail, "detail"));
    }
    const total = snap.deliveries.length;
    const played = snap.summary.played || 0;
    const failed = snap.failed.length;
    document.getElementById("summary").textContent = t("summary", { played, total }) + (failed ? " · " + t("n_failed", { n: failed }) : "");
    const bar = document.getElementById("bar");
    bar.replaceChildren();
    for (const [cls, n] of [["ok", played], ["bad", failed], ["live", snap.summary.playing || 0]]) {
      if (!n || !total) continue;
      const s = document.createElement("span");
      s.className = cls;
      s.style.width = (100 * n) / total + "%";
      bar.append(s);
    }
    if (resend) resend.hidden = !failed;
    const cancel = document.getElementById("btn-cancel");
    if (cancel) cancel.hidden = ["completed", "cancelled", "expired", "failed"].includes(snap.bulletin.state);
  }

  render(JSON.parse(document.getElementById("snapshot").textContent));
  if (root.dataset.done !== "1" && window.EventSource) {
    const es = new EventSource(`/api/v1/bulletins/${encodeURIComponent(id)}/events`);
    es.addEventListener("deliveries", (ev) => { render(JSON.parse(ev.data)); status.textContent = ""; });
    es.addEventListener("end", () => { es.close(); status.textContent = t("finished"); root.dataset.done = "1"; });
    es.onerror = () => { if (root.dataset.done !== "1") status.textContent = t("live_lost"); };
  }

  // ---- actions
  const dialog = document.getElementById("confirm-cancel");
  document.getElementById("btn-cancel")?.addEventListener("click", () => dialog.showModal());
  document.getElementById("cc-no")?.addEventListener("click", () => dialog.close());
  document.getElementById("cc-yes")?.addEventListener("click", async () => {
    dialog.close();
    const r = await LoaXa.api("POST", `/api/v1/bulletins/${id}/cancel`);
    if (r.ok) location.reload(); else msg.textContent = t("failed", { why: r.data.error });
  });
  resend?.addEventListener("click", async () => {
    resend.disabled = true;
    const r = await LoaXa.api("POST", `/api/v1/bulletins/${id}/resend`, {});
    resend.disabled = false;
    if (r.ok) location.href = `/bulletins/${r.data.bulletin.id}`; else msg.textContent = t("failed", { why: r.data.error });
  });
  document.querySelector("[data-approve]")?.addEventListener("click", async (ev) => {
    const r = await LoaXa.api("POST", `/api/v1/bulletins/${ev.currentTarget.dataset.approve}/approve`);
    if (r.ok) location.reload(); else msg.textContent = t("failed", { why: r.data.error });
  });
});
