// Settings: alert webhook, voice order, default programme windows; errors next to their field.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const t = LoaXa.t;
  const data = JSON.parse(document.getElementById("settings-data").textContent);
  const words = JSON.parse(document.getElementById("engine-words").textContent);
  const done = (form, text) => { const m = form.querySelector(".msg"); m.className = "msg notice ok"; m.textContent = text; };

  const wf = document.getElementById("webhook-form");
  wf.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await LoaXa.api("PUT", "/api/v1/hq-settings/alert-webhook", { url: wf.url.value.trim() || null });
    if (!r.ok) return LoaXa.showErrors(wf, r.data.fields || {}, t("failed", { why: r.data.error }));
    LoaXa.showErrors(wf, {});
    done(wf, t("saved"));
  });

  // voices: every known engine, in use (ticked) or not, in the chosen order
  const ef = document.getElementById("engines-form");
  const list = document.getElementById("engine-list");
  const inUse = data.tts_engines.engines;
  const order = [...inUse, ...data.tts_engines.known.filter((e) => !inUse.includes(e))];
  for (const name of order) {
    const li = document.createElement("li");
    li.dataset.engine = name;
    li.innerHTML = `<label class="choice"><input type="checkbox" ${inUse.includes(name) ? "checked" : ""}> <span><span class="label"></span> <span class="hint"></span></span></label>
      <button type="button" data-move="-1"></button><button type="button" data-move="1"></button>`;
    li.querySelector(".label").textContent = words[name] || name;
    li.querySelector(".hint").textContent = name === "espeak" ? words.robotic : (data.tts_engines.available[name] === false ? words.unavailable : "");
    li.querySelector("input").setAttribute("aria-label", `${words.use} ${words[name] || name}`);
    li.querySelector('[data-move="-1"]').textContent = "↑"; li.querySelector('[data-move="-1"]').setAttribute("aria-label", words.up);
    li.querySelector('[data-move="1"]').textContent = "↓"; li.querySelector('[data-move="1"]').setAttribute("aria-label", words.down);
    list.append(li);
  }
  list.addEventListener("click", (ev) => {
    const btn = ev.target.closest("[data-move]");
    if (!btn) return;
    const li = btn.closest("li");
    if (btn.dataset.move === "-1" && li.previousElementSibling) li.previousElementSibling.before(li);
    if (btn.dataset.move === "1" && li.nextElementSibling) li.nextElementSibling.after(li);
    btn.focus();
  });
  ef.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const engines = [...list.querySelectorAll("li")].filter((li) => li.querySelector("input").checked).map((li) => li.dataset.engine);
    if (!engines.length) return LoaXa.showErrors(ef, { engines: t("need_engine") });
    const r = await LoaXa.api("PUT", "/api/v1/hq-settings/tts-engines", { engines });
    if (!r.ok) return LoaXa.showErrors(ef, r.data.fields || {}, t("failed", { why: r.data.error }));
    LoaXa.showErrors(ef, {});
    done(ef, t("saved"));
  });

  // default programme windows (scope: the whole commune)
  const pf = document.getElementById("programme-form");
  const box = document.getElementById("windows");
  const tpl = document.getElementById("window-tpl");
  const hhmm = (v) => (v ? v.slice(0, 5) : "");
  function addWindow(w) {
    const row = tpl.content.firstElementChild.cloneNode(true);
    row.querySelector('[data-w="start"]').value = hhmm(w.start);
    row.querySelector('[data-w="end"]').value = hhmm(w.end);
    row.querySelectorAll('[data-w="day"]').forEach((b) => (b.checked = w.days.includes(Number(b.value))));
    row.querySelector("[data-remove]").addEventListener("click", () => row.remove());
    box.append(row);
  }
  const prog = data.default_programme.value;
  (prog ? prog.windows : []).forEach(addWindow);
  pf.quiet_start.value = hhmm(prog && prog.quiet_start);
  pf.quiet_end.value = hhmm(prog && prog.quiet_end);
  document.getElementById("btn-add-window").addEventListener("click", () => addWindow({ start: "05:30", end: "06:30", days: [0, 1, 2, 3, 4, 5, 6] }));
  pf.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const windows = [...box.querySelectorAll(".window-row")].map((row) => ({
      start: row.querySelector('[data-w="start"]').value, end: row.querySelector('[data-w="end"]').value,
      days: [...row.querySelectorAll('[data-w="day"]:checked')].map((b) => Number(b.value)) }));
    if (windows.some((w) => !w.start || !w.end || !w.days.length)) return LoaXa.showErrors(pf, { windows: t("need_window") }, t("check_fields"));
    const body = { windows };
    if (pf.quiet_start.value || pf.quiet_end.value) { body.quiet_start = pf.quiet_start.value || null; body.quiet_end = pf.quiet_end.value || null; }
    const r = await LoaXa.api("PUT", "/api/v1/hq-settings/default-programme", body);
    if (!r.ok) return LoaXa.showErrors(pf, r.data.fields || {}, t("failed", { why: r.data.error }));
    LoaXa.showErrors(pf, {});
    done(pf, t("applied", { n: r.data.nodes.length }));
  });
});
