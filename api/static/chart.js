/* Column charts as inline SVG: a histogram for numbers and dates, top values for text. */
"use strict";

window.MPChart = (function () {
  const SVG = "http://www.w3.org/2000/svg";
  const { el, fmtNumber } = window.MP;
  let uid = 0;

  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function short(value, max) {
    const text = value === null || value === undefined ? "null" : String(value);
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
  }

  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });

  /* Axis labels stay short: 8.89M, 371.79K, 0.0012. */
  function compactNumber(value) {
    if (typeof value !== "number") return String(value);
    const magnitude = Math.abs(value);
    if (magnitude >= 1e4) return compact.format(value);
    if (magnitude !== 0 && magnitude < 1e-3) return value.toExponential(2);
    return fmtNumber(Number(value.toPrecision(4)));
  }

  function label(value, type) {
    if (type === "timestamp" && typeof value === "string") return value.replace("T", " ").slice(0, 16);
    return compactNumber(value);
  }

  /* Facts show the value in full. */
  function exact(value, type) {
    if (typeof value === "number") return fmtNumber(value);
    return type === "timestamp" && typeof value === "string" ? value.replace("T", " ") : String(value);
  }

  function binText(bin, type) {
    const start = label(bin.start, type);
    const end = label(bin.end, type);
    return start === end ? start : `${start} – ${end}`;
  }

  function facts(stats) {
    const items = [
      ["Type", stats.type],
      ["Values", fmtNumber(stats.count)],
      ["Nulls", fmtNumber(stats.nulls)],
    ];
    if (stats.chart === "histogram") {
      items.push(["Min", exact(stats.min, stats.type)], ["Max", exact(stats.max, stats.type)]);
    } else {
      items.push(["Distinct", `${fmtNumber(stats.distinct)}${stats.exact ? "" : "+"}`]);
    }
    return el(
      "dl",
      { class: "chart-facts" },
      items.map(([term, value]) => el("div", {}, [el("dt", { text: term }), el("dd", { text: value })])),
    );
  }

  function dataTable(headers, rows) {
    return el("details", {}, [
      el("summary", { text: "Chart data as a table" }),
      el("table", { class: "data compact" }, [
        el("thead", {}, [el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))]),
        el(
          "tbody",
          {},
          rows.map((cells) => el("tr", {}, cells.map((c, i) => el("td", { class: i ? "num" : null, text: c })))),
        ),
      ]),
    ]);
  }

  function histogram(stats) {
    const width = 320;
    const height = 190;
    const pad = { left: 8, right: 8, top: 18, bottom: 34 };
    const bins = stats.bins;
    const peak = Math.max(1, ...bins.map((b) => b.count));
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const barW = plotW / bins.length;
    const id = `chart-${++uid}`;
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${id}-title ${id}-desc`,
      "data-chart": "histogram",
    });
    root.append(
      svg("title", { id: `${id}-title`, text: `Histogram of ${stats.column}` }),
      svg("desc", {
        id: `${id}-desc`,
        text: `${bins.length} bins from ${label(stats.min, stats.type)} to ${label(stats.max, stats.type)}; the fullest holds ${peak} values.`,
      }),
    );
    bins.forEach((bin, i) => {
      const h = bin.count === 0 ? 0 : Math.max(1.5, (bin.count / peak) * plotH);
      const rect = svg("rect", {
        class: "bar",
        x: (pad.left + i * barW + 0.5).toFixed(2),
        y: (pad.top + plotH - h).toFixed(2),
        width: Math.max(0.5, barW - 1).toFixed(2),
        height: h.toFixed(2),
        "data-count": bin.count,
      });
      rect.append(svg("title", { text: `${binText(bin, stats.type)}: ${fmtNumber(bin.count)}` }));
      root.append(rect);
    });
    const base = pad.top + plotH;
    root.append(
      svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: base, y2: base }),
      svg("text", { x: pad.left, y: base + 14, text: label(stats.min, stats.type) }),
      svg("text", { x: width - pad.right, y: base + 14, "text-anchor": "end", text: label(stats.max, stats.type) }),
      svg("text", { x: pad.left, y: 12, text: `max ${fmtNumber(peak)} per bin` }),
    );
    const table = dataTable(
      ["Range", "Count"],
      bins.map((b) => [binText(b, stats.type), fmtNumber(b.count)]),
    );
    return [root, table];
  }

  /* One row per value: its label above a bar, so long text still reads at 360 px. */
  function topValues(stats) {
    const width = 320;
    const rowH = 36;
    const countW = 56;
    const values = stats.values;
    const peak = Math.max(1, ...values.map((v) => v.count));
    const height = values.length * rowH;
    const id = `chart-${++uid}`;
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${id}-title ${id}-desc`,
      "data-chart": "top_values",
    });
    root.append(
      svg("title", { id: `${id}-title`, text: `Most frequent values of ${stats.column}` }),
      svg("desc", {
        id: `${id}-desc`,
        text: `${values.length} most frequent of ${stats.distinct} distinct values; the first appears ${values.length ? values[0].count : 0} times.`,
      }),
    );
    values.forEach((item, i) => {
      const y = i * rowH;
      const w = Math.max(1.5, (item.count / peak) * (width - countW));
      const rect = svg("rect", {
        class: "bar",
        x: 0,
        y: y + 16,
        width: w.toFixed(2),
        height: 14,
        rx: 2,
        "data-count": item.count,
        "data-value": item.value === null ? "" : String(item.value),
      });
      rect.append(svg("title", { text: `${short(item.value, 200)}: ${fmtNumber(item.count)}` }));
      root.append(
        svg("text", { class: "value", x: 0, y: y + 12, text: short(item.value, 52) }),
        rect,
        svg("text", { x: w + 6, y: y + 27, text: fmtNumber(item.count) }),
      );
    });
    const rows = values.map((v) => [short(v.value, 200), fmtNumber(v.count)]);
    if (stats.other_count > 0) rows.push(["(all other values)", fmtNumber(stats.other_count)]);
    return [root, dataTable(["Value", "Count"], rows)];
  }

  function render(container, stats) {
    container.replaceChildren();
    container.dataset.column = stats.column;
    container.dataset.chart = stats.chart;
    container.append(el("h3", { text: stats.column }), facts(stats));
    const empty = stats.chart === "histogram" ? stats.bins.length === 0 : stats.values.length === 0;
    if (empty) {
      container.append(el("p", { class: "muted", text: "No non-null values to chart." }));
      return;
    }
    const parts = stats.chart === "histogram" ? histogram(stats) : topValues(stats);
    if (stats.chart === "top_values" && stats.other_count > 0) {
      parts.splice(1, 0, el("p", { class: "muted small", text: `${fmtNumber(stats.other_count)} other values not shown.` }));
    }
    container.append(...parts);
  }

  return { render };
})();
