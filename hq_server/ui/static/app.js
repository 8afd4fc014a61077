// LoaXa web UI: shared helpers. Small on purpose: the server renders the pages; this only calls the
// JSON API (same session cookie, CSRF header) and shows its answers next to the fields they concern.
"use strict";
const LoaXa = (() => {
  const msgs = JSON.parse(document.getElementById("ui-msgs")?.textContent || "{}");
  const t = (key, vars) => (msgs[key] || key).replace(/%\((\w+)\)s/g, (_, k) => (vars && k in vars ? vars[k] : ""));
  const csrf = () => (document.cookie.match(/(?:^|; )loaxa_csrf=([^;]+)/) || [])[1] || "";

  async function api(method, url, body, extra) {
    const headers = { "X-CSRF-Token": decodeURIComponent(csrf()), ...(extra || {}) };
    let payload = body;
    if (body !== undefined && !(body instanceof Blob)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
    } catch (err) {
      return { ok: false, status: 0, data: { error: t("network") } };
    }
    if (resp.status === 401 && !url.endsWith("/auth/login")) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    }
    const data = (resp.headers.get("Content-Type") || "").includes("json") ? await resp.json() : {};
    return { ok: resp.ok, status: resp.status, data };
  }

  // show errors next to their fields: {field: message}; elements with data-field="name"
  function showErrors(form, fields, general) {
    form.querySelectorAll("[data-error-for]").forEach((el) => (el.textContent = ""));
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    let first = null;
    for (const [name, message] of Object.entries(fields || {})) {
      const key = name.split(".")[0];
      const slot = form.querySelector(`[data-error-for="${key}"]`) || form.querySelector('[data-error-for="_"]');
      if (slot) slot.textContent = message;
      const input = form.querySelector(`[name="${key}"]`) || form.querySelector(`[data-field="${key}"]`);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    }
    const top = form.querySelector('[data-error-for="_"]');
    if (top && general && !Object.keys(fields || {}).length) top.textContent = general;
    if (first) first.focus();
    else if (top && top.textContent) top.focus();
  }

  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("[data-logout]");
    if (!btn) return;
    ev.preventDefault();
    await api("POST", "/api/v1/auth/logout");
    location.href = "/login";
  });

  // a date field's value in words, Vietnamese style ("Thứ Bảy, 28/11/2026"), whatever the browser's own
  // date format is: the broadcaster checks the day before scheduling
  function echoDates() {
    const names = (msgs.weekdays || "").split("|");
    document.querySelectorAll('input[type="date"]').forEach((input) => {
      let out = input.parentElement.querySelector(".date-echo");
      if (!out) {
        out = document.createElement("span");
        out.className = "hint date-echo";
        out.setAttribute("aria-live", "polite");
        input.after(out);
      }
      const show = () => {
        const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(input.value);
        if (!m) { out.textContent = ""; return; }
        const wd = (new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])).getUTCDay() + 6) % 7;
        out.textContent = `${names[wd] || ""}, ${m[3]}/${m[2]}/${m[1]}`;
      };
      input.addEventListener("input", show);
      input.addEventListener("change", show);
      show();
    });
  }
  document.addEventListener("DOMContentLoaded", echoDates);

  // "Google Translate (vi) · giọng tự nhiên (AI)", as hq_server/ui/voice_text.py says it on the server
  function voiceLabel(sp) {
    const quality = msgs["q_" + sp.quality] || sp.quality || "";
    if (sp.quality === "human") return quality;
    let who = (sp.engine || "").split("+").filter(Boolean).map((e) => msgs["engine_" + e] || e).join(" + ");
    if (sp.voice) who = who ? `${who} (${sp.voice})` : sp.voice;
    return [who, quality].filter(Boolean).join(" · ");
  }

  return { t, api, showErrors, voiceLabel };
})();
