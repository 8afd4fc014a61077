// Relay (tiếp âm): one relay bulletin per chosen day (a relay has a fixed end instant in the contract).
"use strict";
const MAX_SESSIONS = 62;
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("relay");
  const $ = (s) => form.querySelector(s);
  const t = LoaXa.t;
  Targets.init(form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = {};
    const url = form.relay_url.value.trim();
    if (!/^(https?|rtsp|rtmp):\/\/\S{3,}/.test(url)) errors.relay_url = t("need_url");
    const tg = Targets.collect(form);
    if (tg.error) errors.targets = tg.error;
    const start = $("#r-start").value, end = $("#r-end").value, from = $("#r-from").value, to = $("#r-to").value;
    const days = [...form.querySelectorAll('input[name="weekday"]:checked')].map((b) => Number(b.value));
    if (!start || !end || !from || !to) errors.send_at = t("need_time");
    else if (end <= start) errors.relay_end_at = t("end_after");
    else if (to < from) errors.send_at = t("end_before");
    const sessions = [];
    if (!Object.keys(errors).length) {
      for (let d = new Date(from + "T12:00:00+07:00"); d <= new Date(to + "T12:00:00+07:00"); d = new Date(d.getTime() + 86400000)) {
        const iso = new Date(d.getTime() + 7 * 3600000).toISOString().slice(0, 10);
        const weekday = (new Date(iso + "T12:00:00Z").getUTCDay() + 6) % 7;
        if (!days.includes(weekday)) continue;
        const sendAt = `${iso}T${start}:00+07:00`;
        if (Date.parse(`${iso}T${end}:00+07:00`) <= Date.now()) continue;
        sessions.push({ send_at: Date.parse(sendAt) < Date.now() ? null : sendAt, end: `${iso}T${end}:00+07:00` });
      }
      if (!sessions.length) errors.send_at = t("need_dates");
      else if (sessions.length > MAX_SESSIONS) errors.send_at = t("too_many", { n: MAX_SESSIONS });
    }
    if (Object.keys(errors).length) return LoaXa.showErrors(form, errors, t("check_fields"));
    LoaXa.showErrors(form, {});
    $("#btn-relay").disabled = true;
    let ok = 0, first = null;
    for (const s of sessions) {
      const r = await LoaXa.api("POST", "/api/v1/bulletins", { title: form.title.value.trim(), kind: "relay", relay_url: url,
        relay_end_at: s.end, expires_at: s.end, send_at: s.send_at, targets: tg.targets });
      if (!r.ok) {
        $("#btn-relay").disabled = false;
        LoaXa.showErrors(form, (r.data && r.data.fields) || {}, t("partial", { ok, n: sessions.length, why: r.data.error }));
        return;
      }
      ok += 1;
      first = first || r.data.bulletin.id;
    }
    $("#relay-msg").className = "notice ok";
    $("#relay-msg").textContent = t("done", { n: ok });
    location.href = "/calendar";
  });
});
