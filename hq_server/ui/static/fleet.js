// Live fleet: the node list, the map and a node's header follow HQ's event stream without reloading.
// Every element carrying data-node="<id>" is updated: its data-state, its status tag and its [data-field] cells.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("fleet");
  if (!root || !window.EventSource) return;
  const t = LoaXa.t;
  const status = document.getElementById("live-status");
  const marks = { ok: "✓", warn: "!", bad: "✗", off: "?" };

  function update(el, n) {
    el.dataset.state = n.state;
    if (el.classList.contains("pin")) {
      el.setAttribute("class", "pin " + n.tone);
      const mark = el.querySelector("text.mark");
      if (mark) mark.textContent = marks[n.tone] || "?";
      const title = el.querySelector("title");
      if (title) title.textContent = `${n.id} · ${n.state_text} · ${n.villages}`;
    }
    el.querySelectorAll("[data-field]").forEach((cell) => {
      const key = cell.dataset.field;
      if (!(key in n)) return;
      cell.textContent = Array.isArray(n[key]) ? n[key].join("; ") : n[key];
      if (key === "state_text") cell.className = "tag " + n.tone;
    });
  }

  function render(snap) {
    for (const [k, v] of Object.entries(snap.counts)) root.querySelectorAll(`[data-count="${k}"]`).forEach((el) => (el.textContent = v));
    let unknown = false;
    for (const n of snap.nodes) {
      const els = root.querySelectorAll(`[data-node="${CSS.escape(n.id)}"]`);
      if (!els.length) unknown = true;
      els.forEach((el) => update(el, n));
    }
    // a node HQ has just met: the list page shows it after a reload (its row is rendered by the server)
    if (unknown && document.getElementById("node-list")) location.reload();
  }

  const es = new EventSource(root.dataset.stream);
  es.addEventListener("nodes", (ev) => { render(JSON.parse(ev.data)); if (status) status.textContent = ""; });
  es.onerror = () => { if (status) status.textContent = t("live_lost"); };
});
