// Alerts: acknowledge with a note (feed and camera page); on the feed, new alerts arrive live with a sound and a
// visual cue (banner, highlighted rows, count in the tab title).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const t = LoaXa.t;
  const dialog = document.getElementById("ack-dialog");
  const form = document.getElementById("ack-form");
  let acking = null;

  async function refreshList(newerThan) {
    const resp = await fetch(location.href, { credentials: "same-origin" });
    if (!resp.ok) return;
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    const fresh = doc.getElementById("alert-list");
    const list = document.getElementById("alert-list");
    if (!fresh || !list) return;
    if (newerThan !== undefined) fresh.querySelectorAll("[data-alert]").forEach((li) => { if (Number(li.dataset.alert) > newerThan) li.classList.add("new"); });
    list.replaceWith(fresh);
  }

  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("[data-ack]");
    if (!btn || !dialog) return;
    acking = btn.dataset.ack;
    document.getElementById("ack-what").textContent = btn.closest("[data-alert]").querySelector(".alert-text").textContent;
    form.note.value = "";
    LoaXa.showErrors(form, {});
    dialog.showModal();
    form.note.focus();
  });
  document.getElementById("ack-no")?.addEventListener("click", () => dialog.close());
  form?.note.addEventListener("input", () => { form.querySelector('[data-error-for="note"]').textContent = ""; });
  form?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const note = form.note.value.trim();
    if (!note) return LoaXa.showErrors(form, { note: t("need_note") });
    const r = await LoaXa.api("POST", `/api/v1/alerts/${acking}/acknowledge`, { note });
    if (!r.ok) return LoaXa.showErrors(form, (r.data && r.data.fields) || {}, t("failed", { why: r.data.error }));
    dialog.close();
    // shown as acknowledged where it is (an "open only" list drops it at its next refresh)
    const row = document.querySelector(`[data-alert="${CSS.escape(String(acking))}"]`);
    if (row) {
      row.classList.add("acked");
      const info = document.createElement("p");
      info.className = "hint ack-info";
      const when = new Date(r.data.acknowledged_at).toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit", year: "numeric" });
      info.textContent = `✓ ${t("acked_by", { who: r.data.acknowledged_by })} ${when}` + (r.data.acknowledged_note ? `: “${r.data.acknowledged_note}”` : "");
      row.querySelector("[data-ack]")?.replaceWith(info);
    }
  });

  // ---- the feed: live new alerts with a cue
  const feed = document.getElementById("alert-feed");
  if (!feed || !window.EventSource) return;
  let seen = Number(feed.dataset.latest || 0);
  let unseen = 0;
  const title = document.title;
  const banner = document.getElementById("new-alerts");
  const soundBtn = document.getElementById("btn-sound");
  let audio = null;
  window.__alertCues = 0;

  function setSound(on) {
    localStorage.setItem("loaxa-alert-sound", on ? "1" : "0");
    soundBtn.setAttribute("aria-pressed", String(on));
    soundBtn.textContent = on ? "♪ " + t("sound_on") : t("sound_off");
    if (on && !audio) audio = new (window.AudioContext || window.webkitAudioContext)();
  }
  soundBtn.addEventListener("click", () => setSound(soundBtn.getAttribute("aria-pressed") !== "true"));
  if (localStorage.getItem("loaxa-alert-sound") === "1") setSound(true); // resumes on the first click (browser rule)
  document.addEventListener("click", () => audio?.resume(), { once: true });

  function ring() { // two short tones; browsers only allow sound after a click on the page
    if (!audio || soundBtn.getAttribute("aria-pressed") !== "true") return;
    window.__alertTones = (window.__alertTones || 0) + 1; // the tones were scheduled (tests read this)
    [[880, 0], [660, 0.18]].forEach(([freq, at]) => {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + at);
      osc.stop(audio.currentTime + at + 0.15);
    });
  }

  const es = new EventSource(feed.dataset.stream);
  const status = document.getElementById("live-status");
  es.addEventListener("alerts", async (ev) => {
    const head = JSON.parse(ev.data);
    status.textContent = "";
    const count = document.getElementById("open-count");
    count.hidden = !head.open;
    count.textContent = head.open;
    if (head.latest_id > seen) {
      const fresh = head.latest.filter((a) => a.id > seen).length || 1;
      unseen += fresh;
      window.__alertCues += 1;
      banner.hidden = false;
      banner.textContent = t("new_alerts", { n: unseen }) + ": " + head.latest[0].text;
      document.title = `(${unseen}) ${title}`;
      ring();
      const before = seen;
      seen = head.latest_id;
      await refreshList(before);
    }
  });
  es.onerror = () => { status.textContent = t("live_lost"); };
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { unseen = 0; document.title = title; } });
  document.getElementById("alert-filters").addEventListener("change", (ev) => ev.currentTarget.submit());
});
