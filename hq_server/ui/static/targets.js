// Village / loudspeaker picker: filter by name (accents optional), "did you mean" for a name that
// matches nothing. Only ticked villages from HQ's list can be chosen, so a misspelling never goes out.
"use strict";
const Targets = (() => {
  const fold = (s) => s.toLowerCase().replace(/đ/g, "d").normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/\s+/g, " ").trim();

  function distance(a, b) { // Levenshtein, for the suggestions
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  }

  function init(form) {
    const fs = form.querySelector("#targets");
    const zonePicker = fs.querySelector("#zone-picker");
    const nodePicker = fs.querySelector("#node-picker");
    const search = fs.querySelector("#village-search");
    const msg = fs.querySelector("#village-search-msg");
    const items = [...fs.querySelectorAll("[data-village][data-id]")];

    const mode = () => (fs.querySelector('input[name="target_mode"]:checked') || {}).value;
    fs.addEventListener("change", (ev) => {
      if (ev.target.name === "target_mode") {
        zonePicker.hidden = mode() !== "zones";
        nodePicker.hidden = mode() !== "nodes";
      }
      fs.dispatchEvent(new CustomEvent("targets-changed", { bubbles: true }));
    });

    function filter(commit) {
      const q = fold(search.value);
      let shown = 0;
      for (const it of items) {
        const hit = !q || fold(it.dataset.village).includes(q) || fold(it.dataset.id).includes(q);
        it.hidden = !hit;
        shown += hit;
      }
      msg.textContent = "";
      if (q && !shown) {
        const near = items.map((it) => [distance(q, fold(it.dataset.village)), it.dataset.village])
          .filter(([d, name]) => d <= Math.max(2, Math.floor(fold(name).length / 3)))
          .sort((a, b) => a[0] - b[0]).slice(0, 3).map(([, name]) => name);
        msg.textContent = LoaXa.t("no_match", { q: search.value.trim() }) + " " +
          (near.length ? LoaXa.t("did_you_mean", { names: near.join(", ") }) : LoaXa.t("no_village_list"));
      } else if (q && commit && shown === 1) {
        const box = items.find((it) => !it.hidden).querySelector("input");
        box.checked = true;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
    search?.addEventListener("input", () => filter(false));
    search?.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") { ev.preventDefault(); filter(true); }
    });
  }

  // {targets, count, names} or {error}
  function collect(form) {
    const fs = form.querySelector("#targets");
    const m = (fs.querySelector('input[name="target_mode"]:checked') || {}).value;
    if (m === "all") return { targets: { all: true }, count: Number(fs.dataset.total || 0), names: [] };
    if (m === "nodes") {
      const boxes = [...fs.querySelectorAll('input[name="nodes"]:checked')];
      if (!boxes.length) return { error: LoaXa.t("need_node") };
      return { targets: { nodes: boxes.map((b) => b.value) }, count: boxes.length, names: boxes.map((b) => b.value) };
    }
    const boxes = [...fs.querySelectorAll('input[name="zones"]:checked')];
    if (!boxes.length) return { error: LoaXa.t("need_village") };
    return {
      targets: { zones: boxes.map((b) => b.value) },
      count: boxes.reduce((n, b) => n + Number(b.dataset.nodes || 0), 0),
      names: boxes.map((b) => b.closest("[data-village]").dataset.village),
    };
  }

  return { init, collect };
})();
