"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const username = form.username.value.trim();
    const password = form.password.value;
    const errors = {};
    if (!username) errors.username = LoaXa.t("need_username");
    if (!password) errors.password = LoaXa.t("need_password");
    if (Object.keys(errors).length) return LoaXa.showErrors(form, errors);
    form.querySelector("button").disabled = true;
    const r = await LoaXa.api("POST", "/api/v1/auth/login", { username, password });
    form.querySelector("button").disabled = false;
    if (r.ok) {
      location.href = form.dataset.next || "/";
    } else if (r.status === 401) {
      LoaXa.showErrors(form, { password: LoaXa.t("wrong_login") });
    } else if (r.status === 429) {
      LoaXa.showErrors(form, {}, LoaXa.t("too_many"));
    } else {
      LoaXa.showErrors(form, {}, (r.data && r.data.error) || LoaXa.t("network"));
    }
  });
});
