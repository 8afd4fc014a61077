// Small time-series and bar charts on uPlot (vendored), in Vietnam time, sized to their container.
"use strict";
const Charts = (() => {
  const TZ = "Asia/Ho_Chi_Minh";
  const hhmm = new Intl.DateTimeFormat("vi-VN", { timeZone: TZ, hour: "2-digit", minute: "2-digit", hour12: false });
  const ddmm = new Intl.DateTimeFormat("vi-VN", { timeZone: TZ, day: "2-digit", month: "2-digit" });
  const colours = { ok: "#1a7f37", bad: "#b42318", brand: "#0b5cad", warn: "#c77700", purple: "#6f42c1" };

  function timeLabels(spanDays) {
    return (u, splits) => splits.map((ts) => (spanDays > 1.5 ? ddmm : hhmm).format(new Date(ts * 1000)));
  }

  function box(parent, title) {
    const h = document.createElement("p");
    h.className = "chart-title";
    h.textContent = title;
    const div = document.createElement("div");
    div.className = "chart";
    parent.append(h, div);
    return div;
  }

  // one series over time; values may contain null (no data: a gap, never a made-up line)
  function line(parent, title, times, values, opts = {}) {
    const div = box(parent, title);
    const span = times.length > 1 ? (times[times.length - 1] - times[0]) / 86400 : 1;
    const series = { label: title, stroke: colours[opts.colour || "brand"], width: 2, spanGaps: false,
      fill: opts.fill ? colours[opts.colour || "brand"] + "33" : undefined,
      paths: opts.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
      // a lone report between gaps has no line to draw: always show the points themselves
      points: { show: true, size: 5, fill: colours[opts.colour || "brand"] } };
    const chart = new uPlot({
      width: Math.max(260, div.clientWidth), height: opts.height || 150, legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: opts.range ? { range: opts.range } : {} },
      axes: [{ values: timeLabels(span), stroke: "#57606a" }, { stroke: "#57606a", size: 50 }],
      series: [{}, series],
    }, [times, values], div);
    div.dataset.points = values.filter((v) => v !== null).length;
    return chart;
  }

  // bars by category (days, villages, loudspeakers): labels on the x axis, one or two series
  // bars by category (days, villages, loudspeakers): a second set gets its own scale on the right (plays and
  // minutes differ by an order of magnitude)
  function bars(parent, title, labels, sets, opts = {}) {
    const div = box(parent, title);
    const xs = labels.map((_, i) => i);
    const scale = (i) => (i ? "y2" : "y");
    const chart = new uPlot({
      width: Math.max(260, div.clientWidth), height: 220, legend: { show: sets.length > 1, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: opts.range ? { range: opts.range } : {},
        y2: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ values: (u, splits) => splits.map((i) => (Number.isInteger(i) ? labels[i] || "" : "")), stroke: "#57606a", space: 40 },
        { stroke: "#57606a", size: 50, scale: "y" },
        ...(sets.length > 1 ? [{ stroke: colours.purple, size: 50, scale: "y2", side: 1, grid: { show: false } }] : [])],
      series: [{ label: "" }, ...sets.map((s, i) => ({ label: s.label, scale: scale(i), fill: colours[s.colour || (i ? "purple" : "brand")] + "cc",
        stroke: colours[s.colour || (i ? "purple" : "brand")],
        paths: uPlot.paths.bars({ size: [sets.length > 1 ? 0.4 : 0.6, 60], align: sets.length > 1 ? (i ? 1 : -1) : 0 }) }))],
    }, [xs, ...sets.map((s) => s.values)], div);
    div.dataset.points = labels.length;
    return chart;
  }

  return { line, bars, colours };
})();
