// Users and API tokens: every change through the JSON API (same checks and audit as a script's call).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const t = LoaXa.t;
  const reloadWith = (msg) => { sessionStorage.setItem("loaxa-flash:admin", msg); location.reload(); };
  const flash = sessionStorage.getItem("loaxa-flash:admin");
  const msgBox = document.getElementById("users-msg");
  if (flash && msgBox) { msgBox.className = "notice ok"; msgBox.textContent = flash; }
  sessionStorage.removeItem("loaxa-flash:admin");

  // ---- users
  const uf = document.getElementById("user-form");
  uf?.querySelector("#btn-gen").addEventListener("click", () => {
    const abc = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    const bytes = crypto.getRandomValues(new Uint8Array(14));
    uf.password.value = [...bytes].map((b) => abc[b % abc.length]).join("");
  });
  uf?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { username: uf.username.value.trim(), full_name: uf.full_name.value.trim(), role: uf.role.value, password: uf.password.value };
    const errors = {};
    if (!/^[A-Za-z0-9_.@-]{2,64}$/.test(body.username)) errors.username = t("need_username");
    if (body.password.length < 10) errors.password = t("short_password");
    if (Object.keys(errors).length) return LoaXa.showErrors(uf, errors, t("check_fields"));
    const r = await LoaXa.api("POST", "/api/v1/users", body);
    if (!r.ok) return LoaXa.showErrors(uf, r.data.fields || {}, t("failed", { why: r.data.error }));
    reloadWith(t("created", { name: body.username }));
  });
  document.addEventListener("click", async (ev) => {
    const off = ev.target.closest("[data-deactivate]"), on = ev.target.closest("[data-activate]");
    if (off) {
      if (!confirm(t("deactivate_confirm", { name: off.dataset.name }))) return;
      const r = await LoaXa.api("POST", `/api/v1/users/${off.dataset.deactivate}/deactivate`);
      return r.ok ? reloadWith(t("saved")) : alert(t("failed", { why: r.data.error }));
    }
    if (on) {
      const r = await LoaXa.api("POST", `/api/v1/users/${on.dataset.activate}/activate`);
      return r.ok ? reloadWith(t("saved")) : alert(t("failed", { why: r.data.error }));
    }
    const revoke = ev.target.closest("[data-revoke]");
    if (revoke) {
      if (!confirm(t("revoke_confirm"))) return;
      const r = await LoaXa.api("DELETE", `/api/v1/tokens/${revoke.dataset.revoke}`);
      return r.ok ? location.reload() : alert(t("failed", { why: r.data.error }));
    }
  });
  document.querySelectorAll("[data-role-of]").forEach((sel) => sel.addEventListener("change", async () => {
    const name = sel.dataset.name, label = sel.selectedOptions[0].textContent;
    if (!confirm(t("role_confirm", { name, role: label }))) { sel.value = sel.dataset.current; return; }
    const r = await LoaXa.api("PUT", `/api/v1/users/${sel.dataset.roleOf}/role`, { role: sel.value });
    if (!r.ok) { sel.value = sel.dataset.current; return alert(t("failed", { why: r.data.error })); }
    reloadWith(t("role_done", { name, role: label }));
  }));
  const dialog = document.getElementById("reset-dialog");
  const rf = document.getElementById("reset-form");
  let resetting = null;
  document.querySelectorAll("[data-reset]").forEach((b) => b.addEventListener("click", () => {
    resetting = b;
    document.getElementById("reset-name").textContent = b.dataset.name;
    rf.new_password.value = "";
    LoaXa.showErrors(rf, {});
    dialog.showModal();
  }));
  document.getElementById("reset-no")?.addEventListener("click", () => dialog.close());
  rf?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (rf.new_password.value.length < 10) return LoaXa.showErrors(rf, { new_password: t("short_password") });
    const r = await LoaXa.api("POST", `/api/v1/users/${resetting.dataset.reset}/password`, { new_password: rf.new_password.value });
    if (!r.ok) return LoaXa.showErrors(rf, r.data.fields || {}, t("failed", { why: r.data.error }));
    dialog.close();
    if (msgBox) { msgBox.className = "notice ok"; msgBox.textContent = t("reset_done", { name: resetting.dataset.name }); }
  });

  // ---- tokens
  const tf = document.getElementById("token-form");
  tf?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await LoaXa.api("POST", "/api/v1/tokens", { name: tf.name.value.trim() });
    if (!r.ok) return LoaXa.showErrors(tf, r.data.fields || {}, t("failed", { why: r.data.error }));
    document.getElementById("token-once").textContent = t("token_once");
    document.getElementById("token-value").textContent = r.data.token;
    document.getElementById("new-token").hidden = false;
    tf.name.value = "";
  });
});
