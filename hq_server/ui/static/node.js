// One node's page: health charts (24 h / 7 days), villages and location, programme windows and volume.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const t = LoaXa.t;
  // a message kept across the reload that shows the saved state: "loaxa-flash:<element id>"
  const flash = (id) => {
    const text = sessionStorage.getItem("loaxa-flash:" + id);
    const el = document.getElementById(id);
    if (text && el) { el.textContent = text; el.className = "notice ok"; sessionStorage.removeItem("loaxa-flash:" + id); }
  };

  // ---- health over time
  const hist = document.getElementById("history");
  if (hist) {
    const nodeId = hist.dataset.history;
    let span = "24h";
    const gb = (v) => (v === null ? null : Math.round((v / 1024 ** 3) * 100) / 100);
    async function load() {
      const r = await LoaXa.api("GET", `/api/v1/nodes/${encodeURIComponent(nodeId)}/history?span=${span}`);
      if (!r.ok) return;
      const s = r.data.series, a = r.data.availability;
      const charts = document.getElementById("charts");
      charts.replaceChildren();
      document.getElementById("availability").textContent = a.uptime_percent === null ? t("no_data")
        : t("uptime", { p: a.uptime_percent.toLocaleString("vi-VN") + " %" });
      Charts.line(charts, t("online_share"), s.t, s.online, { stepped: true, fill: true, colour: "ok", range: [0, 1] });
      Charts.line(charts, t("temp"), s.t, s.cpu_temp_c, { colour: "bad" });
      Charts.line(charts, t("disk"), s.t, s.disk_free_bytes.map(gb));
      Charts.line(charts, t("clock"), s.t, s.clock_offset_ms, { colour: "purple" });
      Charts.line(charts, t("volume"), s.t, s.volume, { stepped: true, range: [0, 100] });
      hist.dataset.loaded = span;
    }
    hist.querySelectorAll("[data-span]").forEach((b) => b.addEventListener("click", () => {
      span = b.dataset.span;
      hist.querySelectorAll("[data-span]").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
      load();
    }));
    load();
    setInterval(load, 60000);
  }

  // ---- villages and location
  const nf = document.getElementById("node-form");
  if (nf) {
    flash("node-msg");
    const num = (v) => (v.trim() === "" ? null : Number(v.trim().replace(",", ".")));
    nf.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const errors = {};
      const zones = [...nf.querySelectorAll('input[name="zones"]:checked')].map((b) => b.value);
      const extra = nf.new_zone.value.trim();
      if (extra && !zones.includes(extra)) zones.push(extra);
      const lat = num(nf.lat.value), lon = num(nf.lon.value);
      if (lat !== null && !(lat >= -90 && lat <= 90)) errors.lat = t("bad_lat");
      if (lon !== null && !(lon >= -180 && lon <= 180)) errors.lon = t("bad_lon");
      if (Object.keys(errors).length) return LoaXa.showErrors(nf, errors, t("check_fields"));
      const btn = document.getElementById("btn-save-node");
      btn.disabled = true;
      const r = await LoaXa.api("PUT", `/api/v1/nodes/${encodeURIComponent(nf.dataset.id)}`,
        { kind: nf.dataset.kind, zones, location: nf.location.value.trim(), lat, lon });
      btn.disabled = false;
      if (!r.ok) return LoaXa.showErrors(nf, (r.data && r.data.fields) || {}, t("failed", { why: r.data.error }));
      sessionStorage.setItem("loaxa-flash:node-msg", t("saved"));
      location.reload();
    });
    document.getElementById("btn-gps").addEventListener("click", () => {
      if (!navigator.geolocation) return LoaXa.showErrors(nf, { lat: t("no_gps", { why: "-" }) });
      navigator.geolocation.getCurrentPosition((pos) => {
        nf.lat.value = pos.coords.latitude.toFixed(6);
        nf.lon.value = pos.coords.longitude.toFixed(6);
      }, (err) => LoaXa.showErrors(nf, { lat: t("no_gps", { why: err.message }) }), { enableHighAccuracy: true, timeout: 20000 });
    });
  }

  // ---- programme windows and volume, for the node or one of its villages
  const sf = document.getElementById("settings-form");
  if (sf) {
    flash("settings-msg");
    const data = JSON.parse(document.getElementById("settings-data").textContent);
    const list = document.getElementById("windows");
    const tpl = document.getElementById("window-tpl");
    const vol = document.getElementById("volume"), volOut = document.getElementById("volume-out");
    const hhmm = (v) => (v ? v.slice(0, 5) : "");
    function addWindow(w) {
      const row = tpl.content.firstElementChild.cloneNode(true);
      row.querySelector('[data-w="start"]').value = hhmm(w && w.start);
      row.querySelector('[data-w="end"]').value = hhmm(w && w.end);
      const days = w ? w.days : [0, 1, 2, 3, 4, 5, 6];
      row.querySelectorAll('[data-w="day"]').forEach((b) => (b.checked = days.includes(Number(b.value))));
      row.querySelector("[data-remove]").addEventListener("click", () => row.remove());
      list.append(row);
    }
    function valueFor(kind) {
      const [scope, id] = sf.scope.value.split(/:(.*)/s);
      if (scope === "node") return data.own[kind] || (data.effective[kind] || {}).value || null;
      return data.zone_values[`${id}:${kind}`] || null;
    }
    function fill() {
      list.replaceChildren();
      const prog = valueFor("programme");
      (prog ? prog.windows : []).forEach(addWindow);
      sf.quiet_start.value = hhmm(prog && prog.quiet_start);
      sf.quiet_end.value = hhmm(prog && prog.quiet_end);
      const v = valueFor("volume");
      vol.value = v ? v.volume : 80;
      volOut.textContent = vol.value;
    }
    vol.addEventListener("input", () => (volOut.textContent = vol.value));
    sf.scope.addEventListener("change", fill);
    document.getElementById("btn-add-window").addEventListener("click", () => addWindow({ start: "05:30", end: "06:30", days: [0, 1, 2, 3, 4, 5, 6] }));
    fill();

    const url = (kind) => {
      const [scope, id] = sf.scope.value.split(/:(.*)/s);
      return `/api/v1/${scope === "node" ? "nodes" : "zones"}/${encodeURIComponent(id)}/${kind}`;
    };
    async function save(kind, body) {
      const r = await LoaXa.api("PUT", url(kind), body);
      if (!r.ok) return LoaXa.showErrors(sf, (r.data && r.data.fields) || {}, t("failed", { why: r.data.error }));
      sessionStorage.setItem("loaxa-flash:settings-msg", t("applied", { n: (r.data.nodes || []).length }));
      location.reload();
    }
    document.getElementById("btn-save-programme").addEventListener("click", () => {
      const windows = [];
      let bad = false;
      list.querySelectorAll(".window-row").forEach((row) => {
        const w = { start: row.querySelector('[data-w="start"]').value, end: row.querySelector('[data-w="end"]').value,
          days: [...row.querySelectorAll('[data-w="day"]:checked')].map((b) => Number(b.value)) };
        if (!w.start || !w.end || !w.days.length) bad = true;
        windows.push(w);
      });
      if (bad) return LoaXa.showErrors(sf, { windows: t("need_window") }, t("check_fields"));
      const body = { windows };
      if (sf.quiet_start.value || sf.quiet_end.value) { body.quiet_start = sf.quiet_start.value || null; body.quiet_end = sf.quiet_end.value || null; }
      save("programme", body);
    });
    document.getElementById("btn-save-volume").addEventListener("click", () => save("volume", { volume: Number(vol.value) }));
  }
});
