"use strict";
document.addEventListener("click", async (ev) => {
  const btn = ev.target.closest("[data-approve]");
  if (!btn || !confirm(LoaXa.t("approve_confirm"))) return;
  btn.disabled = true;
  const r = await LoaXa.api("POST", `/api/v1/bulletins/${btn.dataset.approve}/approve`);
  if (r.ok) { location.href = `/bulletins/${btn.dataset.approve}`; return; }
  btn.disabled = false;
  btn.closest("section").querySelector(".error").textContent = LoaXa.t("failed", { why: r.data.error });
});
