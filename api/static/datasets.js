/* /ui/datasets (one row per dataset name): while any newest version is queued or processing,
   re-fetch the server-rendered rows. */
"use strict";

(function () {
  const table = document.getElementById("datasets-table");
  const summary = document.getElementById("list-summary");
  const REFRESH_MS = 1500;
  if (!table) return;

  function running() {
    const body = document.getElementById("datasets-rows");
    return Number(body ? body.dataset.running : 0);
  }

  function describe(total, active) {
    summary.textContent = `${MP.fmtNumber(total)} dataset${total === 1 ? "" : "s"}`;
    if (active > 0) {
      summary.append(" · ", MP.el("span", { class: "spinner", "aria-hidden": "true" }), ` ${active} running, refreshing automatically`);
    }
  }

  async function refresh() {
    const params = new URLSearchParams({ fragment: "rows", offset: table.dataset.offset, limit: table.dataset.limit });
    if (table.dataset.prefix) params.set("prefix", table.dataset.prefix);
    if (table.dataset.q) params.set("q", table.dataset.q);
    if (table.dataset.status) params.set("status", table.dataset.status);
    let html;
    try {
      const response = await fetch(`/ui/datasets?${params}`);
      if (!response.ok) throw new Error(String(response.status));
      html = await response.text();
    } catch (_) {
      setTimeout(refresh, REFRESH_MS * 3);
      return;
    }
    // Keep keyboard focus on the same dataset's link across the swap.
    const focused = document.activeElement && document.activeElement.closest("tr[data-name]");
    const focusedName = focused ? focused.dataset.name : null;
    const focusedLink = focused ? Array.from(focused.querySelectorAll("a")).indexOf(document.activeElement) : -1;
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const fresh = template.content.querySelector("tbody");
    document.getElementById("datasets-rows").replaceWith(fresh);
    if (focusedName) {
      const row = Array.from(fresh.querySelectorAll("tr[data-name]")).find((tr) => tr.dataset.name === focusedName);
      const links = row ? row.querySelectorAll("a") : [];
      const link = links[Math.max(0, focusedLink)] || links[0];
      if (link) link.focus();
    }
    const active = Number(fresh.dataset.running);
    table.dataset.running = String(active);
    describe(Number(fresh.dataset.total), active);
    if (active > 0) setTimeout(refresh, REFRESH_MS);
  }

  if (running() > 0) setTimeout(refresh, REFRESH_MS);
})();
