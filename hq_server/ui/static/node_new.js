// Add a node: ask HQ for its login and a one-time enrolment code, show what to type on the node, then watch it
// come online (the fleet's event stream).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const t = LoaXa.t;
  const form = document.getElementById("enrol-form");
  const result = document.getElementById("enrol-result");
  const status = document.getElementById("enrol-status");
  const when = new Intl.DateTimeFormat("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit", year: "numeric" });
  let stream = null;

  function watch(id) {
    status.className = "notice info";
    status.dataset.state = "waiting";
    status.textContent = t("waiting", { id });
    stream?.close();
    stream = new EventSource("/api/v1/events/fleet");
    stream.addEventListener("nodes", (ev) => {
      const node = JSON.parse(ev.data).nodes.find((n) => n.id === id);
      if (node && (node.state === "online" || node.state === "degraded")) {
        status.className = "notice ok";
        status.dataset.state = "online";
        status.textContent = "✓ " + t("online", { id }) + (node.villages ? ` (${node.villages})` : "");
        const link = document.getElementById("enrol-node-link");
        link.href = `/nodes/${encodeURIComponent(id)}`;
        link.hidden = false;
        stream.close();
      }
    });
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = form.id.value.trim();
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) return LoaXa.showErrors(form, { id: t("need_id") }, t("check_fields"));
    const body = { kind: form.querySelector('input[name="kind"]:checked').value,
      zones: [...form.querySelectorAll('input[name="zones"]:checked')].map((b) => b.value), replace: form.replace.checked };
    const btn = document.getElementById("btn-enrol");
    btn.disabled = true;
    const r = await LoaXa.api("POST", `/api/v1/nodes/${encodeURIComponent(id)}/enrolment`, body);
    btn.disabled = false;
    if (!r.ok) {
      if (r.status === 409 && r.data.fields && r.data.fields.replace) {
        document.getElementById("replace-box").hidden = false;
        return LoaXa.showErrors(form, { id: t("exists") });
      }
      return LoaXa.showErrors(form, r.data.fields || {}, t("failed", { why: r.data.error }));
    }
    LoaXa.showErrors(form, {});
    const hq = form.dataset.hq;
    document.getElementById("enrol-code").textContent = r.data.code;
    document.getElementById("enrol-expires").textContent = t("expires", { t: when.format(new Date(r.data.expires_at)) });
    document.getElementById("enrol-cmd").textContent = `sudo bash scripts/install-node.sh --enrol ${hq} ${r.data.code}`;
    document.getElementById("enrol-cmd2").textContent = `sudo edge-agent enroll ${hq} ${r.data.code}`;
    document.getElementById("fp-ca").textContent = r.data.ca_fingerprint || "—";
    document.getElementById("fp-key").textContent = r.data.hq_key_fingerprint || "—";
    status.dataset.node = id;
    result.hidden = false;
    result.scrollIntoView();
    watch(id);
  });
});
