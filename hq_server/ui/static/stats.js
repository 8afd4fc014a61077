// Statistics: each block draws the report API's JSON (charts + a table); its CSV link is the same API with
// format=csv, so the file a commune sends upward is exactly what the page shows.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const words = JSON.parse(document.getElementById("stats-words").textContent);
  const zones = JSON.parse(document.getElementById("zone-names").textContent);
  const nf = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 2 });
  const dt = new Intl.DateTimeFormat("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit", year: "numeric" });
  const dayLabel = (iso) => `${iso.slice(8, 10)}/${iso.slice(5, 7)}`;

  function cell(key, value) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "boolean") return value ? "✓" : "✗";
    if (typeof value === "number") return nf.format(value);
    if (key === "zone") return zones[value] || value;
    if (key === "zones") return String(value).split(" ").filter(Boolean).map((z) => zones[z] || z).join(", ");
    if (/^last_|_since$/.test(key) && /T\d\d:/.test(value)) return dt.format(new Date(value));
    if (key === "day") return `${value.slice(8, 10)}/${value.slice(5, 7)}/${value.slice(0, 4)}`;
    return String(value);
  }

  function table(box, rows, columns) {
    if (!rows.length) { box.innerHTML = `<p class="muted">${words.empty}</p>`; return; }
    const t = document.createElement("table");
    t.className = "list dense";
    const head = t.createTHead().insertRow();
    columns.forEach((c) => { const th = document.createElement("th"); th.textContent = words[c] || c; head.append(th); });
    const body = t.createTBody();
    rows.forEach((r) => {
      const tr = body.insertRow();
      columns.forEach((c) => { const td = tr.insertCell(); td.dataset.label = words[c] || c; td.textContent = cell(c, r[c]); });
    });
    box.replaceChildren(t);
  }

  const columns = {
    day: ["day", "bulletins", "plays", "seconds_played", "failures"],
    zone: ["zone", "bulletins", "plays", "seconds_played", "failures"],
    node: ["node", "bulletins", "plays", "seconds_played", "failures"],
    bulletin: ["title", "plays", "seconds_played", "failures"],
    nodes: ["node", "zones", "uptime_percent", "disconnects", "reconnects", "last_disconnect", "last_reconnect", "reboots",
      "delivery_failures", "problems", "cpu_temp_c", "audio_device_ok"],
  };

  document.querySelectorAll(".stats-block").forEach(async (block) => {
    const group = block.dataset.group;
    const url = block.querySelector("[data-csv]").getAttribute("href").replace(/&format=csv$/, "");
    const r = await LoaXa.api("GET", url);
    if (!r.ok) { block.querySelector(".table-box").textContent = r.data.error || "?"; return; }
    const rows = r.data.rows || r.data.nodes || [];
    const charts = block.querySelector(".charts");
    if (rows.length && group !== "bulletin") {
      if (group === "nodes") {
        Charts.bars(charts, words.uptime_percent, rows.map((x) => x.node), [{ label: words.uptime_percent, values: rows.map((x) => x.uptime_percent), colour: "ok" }], { range: [0, 100] });
      } else {
        const label = (x) => (group === "day" ? dayLabel(x.day) : group === "zone" ? zones[x.zone] || x.zone : x[group]);
        Charts.bars(charts, `${words.plays} · ${words.minutes_played}`, rows.map(label),
          [{ label: words.plays, values: rows.map((x) => x.plays) }, { label: words.minutes_played, values: rows.map((x) => x.minutes_played) }]);
      }
    }
    table(block.querySelector(".table-box"), rows, columns[group]);
    block.dataset.rows = rows.length;
  });
});
