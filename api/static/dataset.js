/* /ui/datasets/{name or version id}[?version=N]: one version of a dataset. The version
   switcher; rows with paging, sort and filters; column charts; report, rejects and logs tabs.
   Every request goes to the version's own immutable URL, /datasets/{version id}/..., so all
   of it describes the version the page names, whatever gets uploaded meanwhile. */
"use strict";

(function () {
  const root = document.getElementById("dataset");
  const id = root.dataset.datasetId;
  const version = root.dataset.version;
  const status = root.dataset.status;
  const { el, fmtNumber, request, errorMessage } = window.MP;
  const report = JSON.parse(document.getElementById("report-data").textContent || "{}");
  /* The columns the page shows (routes/ui.py: ColumnWindow): with `paged`, only these are
     asked for, so a 2,000-column dataset costs the browser what a 50-column one does. */
  const windowData = document.getElementById("column-window");
  const columnWindow = JSON.parse((windowData && windowData.textContent) || "{}");
  const CELL_TEXT_MAX = 300;
  const CHART_ICON = "M2 14h12v1H2zM3 8h2v5H3zm4-5h2v10H7zm4 3h2v7h-2z";
  const FILTER_DELAY_MS = 400;

  /* ---------- tabs (WAI-ARIA pattern: arrows move, Enter/Space activate) ---------- */

  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  const loaders = { "tab-rejects": loadRejects, "tab-logs": loadLogs };
  const loaded = new Set();

  function selectTab(tab, focus) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
    if (focus) tab.focus();
    if (loaders[tab.id] && !loaded.has(tab.id)) {
      loaded.add(tab.id);
      loaders[tab.id]();
    }
  }

  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => selectTab(tab, false));
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
      next.focus();
    });
  });

  // The report tab's column links come back to it, at its column table.
  if (window.location.hash.startsWith("#report")) {
    selectTab(document.getElementById("tab-report"), false);
    const target = document.getElementById(window.location.hash.slice(1));
    if (target) target.scrollIntoView();
  }

  // In-page links that open a tab ("Details in the report").
  for (const link of document.querySelectorAll("[data-open-tab]")) {
    link.addEventListener("click", (event) => {
      const tab = document.getElementById(link.dataset.openTab);
      if (!tab) return;
      event.preventDefault();
      selectTab(tab, true);
    });
  }

  /* ---------- the version switcher: refreshed while any version is queued or processing ---------- */

  (function followVersions() {
    const REFRESH_MS = 2000;
    const box = () => document.getElementById("versions");
    if (!box() || Number(box().dataset.running) === 0) return;
    const url = `${window.location.pathname}?${new URLSearchParams({ version, fragment: "versions" })}`;
    const refresh = async () => {
      let html;
      try {
        const response = await fetch(url);
        if (!response.ok) throw new Error(String(response.status));
        html = await response.text();
      } catch (_) {
        setTimeout(refresh, REFRESH_MS * 3);
        return;
      }
      const template = document.createElement("template");
      template.innerHTML = html.trim();
      const fresh = template.content.querySelector("#versions");
      if (!fresh) return;
      // Keep keyboard focus on the same version's link across the swap.
      const focused = document.activeElement && document.activeElement.closest("#versions a[data-version]");
      box().replaceWith(fresh);
      if (focused) {
        const again = fresh.querySelector(`a[data-version="${focused.dataset.version}"]`);
        if (again) again.focus();
      }
      if (Number(fresh.dataset.running) > 0) setTimeout(refresh, REFRESH_MS);
    };
    setTimeout(refresh, REFRESH_MS);
  })();

  /* ---------- rejects and logs: loaded on first view; both may be missing ---------- */

  function genericTable(items, caption) {
    const keys = [];
    for (const item of items) for (const key of Object.keys(item)) if (!keys.includes(key)) keys.push(key);
    return el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption }, [
      el("table", { class: "data grid" }, [
        el("caption", { class: "visually-hidden", text: caption }),
        el("thead", {}, [el("tr", {}, keys.map((k) => el("th", { scope: "col", text: k })))]),
        el(
          "tbody",
          {},
          items.map((item) =>
            el("tr", {}, keys.map((k) => {
              const value = item[k];
              const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
              // A rejected row of a wide file is kilobytes of raw text: the JSON has it whole.
              const shown = text.length > CELL_TEXT_MAX ? `${text.slice(0, CELL_TEXT_MAX)}…` : text;
              return el("td", { title: text.length > 40 && text.length <= CELL_TEXT_MAX * 4 ? text : null, text: shown });
            })),
          ),
        ),
      ]),
    ]);
  }

  function itemsOf(body) {
    if (Array.isArray(body)) return body;
    for (const key of ["rows", "items", "rejects", "data"]) if (body && Array.isArray(body[key])) return body[key];
    return [];
  }

  async function loadRejects(url) {
    const box = document.getElementById("rejects-body");
    let answer;
    try {
      answer = await request(url || `/datasets/${id}/rejects?limit=100`);
    } catch (_) {
      box.replaceChildren(el("p", { class: "error", text: "Could not reach the server." }));
      return;
    }
    box.dataset.state = String(answer.status);
    if (answer.status === 404) {
      // No rejects endpoint or no rejects file: the report's sample is all there is.
      const sample = Array.isArray(report.malformed_rows) ? report.malformed_rows : [];
      const counted = report.rows_rejected ?? report.rows_malformed ?? 0;
      if (sample.length === 0) {
        box.replaceChildren(
          el("p", { class: "empty-state", text: counted > 0 ? `${fmtNumber(counted)} rows were rejected, but they are not available here.` : "No rejected rows." }),
        );
        return;
      }
      box.replaceChildren(
        el("p", { class: "muted", text: `Rejected rows are not available from the API; showing the ${sample.length} recorded in the report (of ${fmtNumber(counted)}).` }),
        genericTable(sample, "Rejected rows from the report"),
      );
      return;
    }
    if (answer.status === 202) {
      box.replaceChildren(el("p", { class: "muted", text: "Rejected rows are listed when processing ends." }));
      return;
    }
    if (!answer.ok) {
      box.replaceChildren(el("p", { class: "error", text: errorMessage(answer) }));
      return;
    }
    const items = itemsOf(answer.body);
    if (items.length === 0 && !url) {
      box.replaceChildren(el("p", { class: "empty-state", text: "No rejected rows." }));
      return;
    }
    const total = answer.body && (answer.body.total ?? answer.body.total_rows);
    const parts = [
      el("p", { class: "muted", text: total !== undefined ? `${fmtNumber(total)} rejected rows.` : `${items.length} rejected rows shown.` }),
      genericTable(items, "Rejected rows"),
    ];
    const next = answer.body && answer.body.next;
    if (next) parts.push(el("p", {}, [el("button", { type: "button", class: "secondary", text: "Next rejected rows", onclick: () => loadRejects(next) })]));
    box.replaceChildren(...parts);
  }

  async function loadLogs() {
    const box = document.getElementById("logs-body");
    let answer;
    try {
      answer = await request(`/datasets/${id}/logs`, { headers: { Accept: "application/json, text/plain" } });
    } catch (_) {
      box.replaceChildren(el("p", { class: "error", text: "Could not reach the server." }));
      return;
    }
    box.dataset.state = String(answer.status);
    if (answer.status === 404) {
      box.replaceChildren(el("p", { class: "empty-state", text: "No logs are available for this dataset." }));
      return;
    }
    if (answer.status === 202) {
      box.replaceChildren(el("p", { class: "muted", text: "The log is saved when the processor's run ends." }));
      return;
    }
    if (!answer.ok) {
      box.replaceChildren(el("p", { class: "error", text: errorMessage(answer) }));
      return;
    }
    let text = answer.text;
    const body = answer.body;
    if (body) {
      if (Array.isArray(body.lines)) text = body.lines.join("\n");
      else if (typeof body.log === "string") text = body.log;
      else if (typeof body.logs === "string") text = body.logs;
      else if (typeof body.text === "string") text = body.text;
      else text = JSON.stringify(body, null, 2);
    }
    box.replaceChildren(
      text.trim()
        ? el("pre", { class: "log", tabindex: "0", "aria-label": "Processor log" }, [text])
        : el("p", { class: "empty-state", text: "The log is empty." }),
    );
  }

  /* ---------- not ready yet: follow the status, then reload into the full page ---------- */

  if (status === "queued" || status === "processing") {
    const poll = async () => {
      try {
        const answer = await request(`/datasets/${id}/status`);
        if (answer.ok && (answer.body.status === "ready" || answer.body.status === "failed")) {
          window.location.reload();
          return;
        }
      } catch (_) {
        /* keep polling */
      }
      setTimeout(poll, 1500);
    };
    setTimeout(poll, 1000);
    return;
  }
  if (status !== "ready") return;

  /* ---------- rows: state lives in the page URL so reloads and links keep the view ---------- */

  const table = document.getElementById("rows-table");
  const thead = table.tHead;
  const tbody = table.tBodies[0];
  const scroller = document.getElementById("rows-scroll");
  const range = document.getElementById("row-range");
  const errorBox = document.getElementById("rows-error");
  const pageSize = document.getElementById("page-size");
  const clearButton = document.getElementById("clear-filters");
  const columnSelect = document.getElementById("column-select");
  const chart = document.getElementById("chart");
  const buttons = {
    first: document.getElementById("page-first"),
    prev: document.getElementById("page-prev"),
    next: document.getElementById("page-next"),
    last: document.getElementById("page-last"),
  };
  const pageInfo = document.getElementById("page-info");
  const hiddenQuery = document.getElementById("hidden-query");
  const windowNames = new Set((columnWindow.columns || []).map((c) => c.name));

  const state = { offset: 0, limit: 50, sort: [], filters: {}, total: 0, columns: [] };
  let generation = 0;
  let filterTimer = null;

  (function readUrl() {
    const params = new URLSearchParams(window.location.search);
    state.offset = Math.max(0, Number(params.get("offset")) || 0);
    const limit = Number(params.get("limit"));
    if ([25, 50, 100, 250].includes(limit)) state.limit = limit;
    pageSize.value = String(state.limit);
    state.sort = (params.get("sort") || "").split(",").filter(Boolean).map((key) =>
      key.startsWith("-") ? { column: key.slice(1), desc: true } : { column: key, desc: false },
    );
    for (const [key, value] of params) if (key.startsWith("filter.")) state.filters[key.slice(7)] = value;
  })();

  function writeUrl() {
    const params = new URLSearchParams();
    // The page's version stays in its URL: a reload must not move to another version.
    const chosen = new URLSearchParams(window.location.search).get("version");
    if (chosen) params.set("version", chosen);
    if (state.offset) params.set("offset", state.offset);
    if (state.limit !== 50) params.set("limit", state.limit);
    if (state.sort.length) params.set("sort", sortParam());
    for (const [column, text] of Object.entries(state.filters)) if (text.trim()) params.set(`filter.${column}`, text);
    const query = params.toString();
    if (columnWindow.offset) params.set("col_offset", columnWindow.offset);
    const withWindow = params.toString();
    history.replaceState(null, "", withWindow ? `?${withWindow}${window.location.hash}` : window.location.pathname);
    updateColumnLinks(query);
  }

  /* The column links, server-rendered with the page's first query, follow its filters,
     sort and rows as they change. */
  function updateColumnLinks(query) {
    for (const link of document.querySelectorAll("a[data-cols]")) {
      const target = new URL(link.href, window.location.href);
      const params = new URLSearchParams(query);
      const offset = target.searchParams.get("col_offset");
      if (offset) params.set("col_offset", offset);
      const text = params.toString();
      link.href = `${window.location.pathname}${text ? `?${text}` : ""}${link.dataset.anchor || ""}`;
    }
  }

  /* Filters and sort on columns outside the window still apply: say so. */
  function describeHidden() {
    if (!hiddenQuery || !columnWindow.paged) return;
    const parts = [];
    for (const [column, text] of Object.entries(state.filters)) {
      if (text.trim() && !windowNames.has(column)) parts.push(`${column} filtered by “${text.trim()}”`);
    }
    for (const s of state.sort) if (!windowNames.has(s.column)) parts.push(`sorted by ${s.column}${s.desc ? " (descending)" : ""}`);
    hiddenQuery.hidden = parts.length === 0;
    hiddenQuery.textContent = parts.length ? `Also applied, on columns not shown here: ${parts.join("; ")}.` : "";
  }

  const findForm = document.getElementById("column-find");
  if (findForm) {
    findForm.addEventListener("submit", (event) => {
      const wanted = document.getElementById("column-find-input").value.trim();
      if (!wanted) return;
      event.preventDefault();
      const params = new URLSearchParams(window.location.search);
      params.delete("col_offset");
      params.set("column", wanted);
      window.location.assign(`${window.location.pathname}?${params}`);
    });
  }

  function sortParam() {
    return state.sort.map((s) => (s.desc ? `-${s.column}` : s.column)).join(",");
  }

  function columnType(name) {
    const column = state.columns.find((c) => c.name === name);
    if (column) return column.type;
    return (columnWindow.types && columnWindow.types[name]) || "string";
  }

  /* `?col=value` is equality, unless the column is named like a paging or sort parameter. */
  const RESERVED = new Set(["offset", "limit", "columns", "sort", "cursor", "version", "format"]);
  function equals(column) {
    return RESERVED.has(column) ? `${column}__eq` : column;
  }

  /* A filter box's text as the query API's documented parameters. */
  function filterParams(column, raw) {
    const text = raw.trim();
    if (!text) return [];
    if (/^null$/i.test(text)) return [[`${column}__isnull`, "true"]];
    if (/^(!null|not null)$/i.test(text)) return [[`${column}__isnull`, "false"]];
    const operators = { ">=": "__gte", "<=": "__lte", "!=": "__ne", "<>": "__ne", ">": "__gt", "<": "__lt", "=": "", "^": "__startswith" };
    const match = /^(>=|<=|!=|<>|>|<|=|\^)\s*(.*)$/.exec(text);
    if (match) return [[operators[match[1]] ? `${column}${operators[match[1]]}` : equals(column), match[2]]];
    const between = /^(.+?)\s*\.\.\s*(.+)$/.exec(text);
    if (between && columnType(column) !== "string") {
      return [[`${column}__gte`, between[1]], [`${column}__lte`, between[2]]];
    }
    if (columnType(column) === "string") return [[`${column}__contains`, text]];
    return [[equals(column), text]];
  }

  function queryParams() {
    const params = new URLSearchParams();
    if (state.sort.length) params.set("sort", sortParam());
    for (const [column, text] of Object.entries(state.filters)) {
      for (const [key, value] of filterParams(column, text)) params.append(key, value);
    }
    return params;
  }

  function updateDownloads() {
    for (const link of document.querySelectorAll(".downloads a[data-format]")) {
      const params = queryParams();
      params.set("format", link.dataset.format);
      link.href = `/datasets/${id}/download?${params}`;
    }
  }

  function sortState(column) {
    const index = state.sort.findIndex((s) => s.column === column);
    return index < 0 ? null : { index, desc: state.sort[index].desc };
  }

  /* Click: ascending → descending → unsorted. Shift+click adds a secondary key. */
  function toggleSort(column, additive) {
    const current = sortState(column);
    let next;
    if (!current) next = { column, desc: false };
    else if (!current.desc) next = { column, desc: true };
    else next = null;
    if (additive) {
      state.sort = state.sort.filter((s) => s.column !== column);
      if (next) state.sort.push(next);
    } else {
      state.sort = next ? [next] : [];
    }
    state.offset = 0;
    load();
  }

  function chartIcon() {
    const svgNS = "http://www.w3.org/2000/svg";
    const icon = document.createElementNS(svgNS, "svg");
    icon.setAttribute("viewBox", "0 0 16 16");
    icon.setAttribute("aria-hidden", "true");
    icon.setAttribute("focusable", "false");
    const path = document.createElementNS(svgNS, "path");
    path.setAttribute("d", CHART_ICON);
    icon.append(path);
    return icon;
  }

  function buildHeader(columns) {
    const names = el("tr", {});
    const filters = el("tr", { class: "filters" });
    for (const column of columns) {
      const sortButton = el(
        "button",
        { type: "button", class: "sort-button", "data-column": column.name },
        [column.name, " ", el("span", { class: "type", text: column.type }), el("span", { class: "sort-indicator", "aria-hidden": "true" })],
      );
      sortButton.addEventListener("click", (event) => toggleSort(column.name, event.shiftKey));
      const chartButton = el("button", {
        type: "button",
        class: "chart-button",
        "data-column": column.name,
        "aria-label": `Chart of ${column.name}`,
        "aria-pressed": "false",
        title: `Chart of ${column.name}`,
      }, [chartIcon()]);
      chartButton.addEventListener("click", () => showChart(column.name));
      names.append(el("th", { scope: "col", "data-column": column.name, "aria-sort": "none" }, [
        el("div", { class: "col-head" }, [sortButton, chartButton]),
      ]));

      const inputId = `filter-${columns.indexOf(column)}`;
      const input = el("input", {
        id: inputId,
        type: "search",
        "data-column": column.name,
        "aria-describedby": "filter-help",
        placeholder: column.type === "string" ? "contains…" : "= > < ..",
        autocomplete: "off",
        value: state.filters[column.name] || "",
      });
      input.addEventListener("input", () => {
        state.filters[column.name] = input.value;
        clearTimeout(filterTimer);
        scroller.setAttribute("aria-busy", "true");
        filterTimer = setTimeout(() => {
          state.offset = 0;
          load();
        }, FILTER_DELAY_MS);
      });
      input.addEventListener("keydown", (event) => {
        if (event.key !== "Enter") return;
        clearTimeout(filterTimer);
        state.offset = 0;
        load();
      });
      filters.append(el("th", { scope: "col" }, [
        el("label", { class: "visually-hidden", for: inputId, text: `Filter ${column.name}` }),
        input,
      ]));
    }
    thead.replaceChildren(names, filters);
  }

  function paintHeader() {
    for (const th of thead.querySelectorAll("th[data-column]")) {
      const current = sortState(th.dataset.column);
      const indicator = th.querySelector(".sort-indicator");
      th.setAttribute("aria-sort", current ? (current.desc ? "descending" : "ascending") : "none");
      indicator.textContent = current ? (current.desc ? "▼" : "▲") + (state.sort.length > 1 ? current.index + 1 : "") : "";
    }
    // The filter row sits below the names row when the header sticks.
    const namesRow = thead.rows[0];
    if (namesRow) for (const th of thead.rows[1].cells) th.style.top = `${namesRow.offsetHeight}px`;
  }

  function cell(value, type) {
    if (value === null || value === undefined) return el("td", { class: "null", text: "null" });
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    const numeric = type === "int" || type === "float" || type === "decimal";
    return el("td", { class: numeric ? "num" : null, title: text.length > 30 ? text : null, text });
  }

  function markInvalid(message) {
    for (const input of thead.querySelectorAll("input[data-column]")) {
      const named = message && new RegExp(`\\b${input.dataset.column.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`).test(message);
      input.setAttribute("aria-invalid", String(Boolean(named && input.value.trim())));
    }
  }

  function updatePager() {
    const { offset, limit, total } = state;
    const pages = Math.max(1, Math.ceil(total / limit));
    const page = Math.floor(offset / limit) + 1;
    pageInfo.textContent = `Page ${fmtNumber(page)} of ${fmtNumber(pages)}`;
    buttons.first.disabled = buttons.prev.disabled = offset === 0;
    buttons.next.disabled = buttons.last.disabled = offset + limit >= total;
  }

  async function load() {
    const mine = ++generation;
    scroller.setAttribute("aria-busy", "true");
    writeUrl();
    updateDownloads();
    clearButton.disabled = !state.sort.length && !Object.values(state.filters).some((v) => v.trim());
    describeHidden();
    const params = queryParams();
    if (columnWindow.paged) params.set("columns", columnWindow.columns.map((c) => c.name).join(","));
    params.set("offset", state.offset);
    params.set("limit", state.limit);
    let answer;
    try {
      answer = await request(`/datasets/${id}?${params}`);
    } catch (_) {
      if (mine !== generation) return;
      errorBox.textContent = "Could not reach the server.";
      errorBox.hidden = false;
      scroller.setAttribute("aria-busy", "false");
      return;
    }
    if (mine !== generation) return; // a newer request superseded this one
    if (answer.ok && answer.body && answer.body.id && answer.body.id !== id) {
      // Cannot happen with a version's own URL; never show another version's rows here.
      errorBox.textContent = `The server answered with version ${answer.body.version}, not version ${version}.`;
      errorBox.hidden = false;
      scroller.setAttribute("aria-busy", "false");
      return;
    }
    if (!answer.ok || answer.status !== 200 || !answer.body || answer.body.status !== "ready") {
      const failed = answer.body && answer.body.status === "failed";
      const message = failed ? `Failed: ${(answer.body.error && answer.body.error.message) || answer.body.error}` : errorMessage(answer);
      errorBox.textContent = message;
      errorBox.hidden = false;
      markInvalid(message);
      range.textContent = "No rows to show.";
      tbody.replaceChildren();
      scroller.setAttribute("aria-busy", "false");
      return;
    }
    errorBox.hidden = true;
    markInvalid("");
    const body = answer.body;
    const sameColumns =
      state.columns.length === body.columns.length && state.columns.every((c, i) => c.name === body.columns[i].name);
    state.columns = body.columns;
    state.total = body.total_rows;
    if (!sameColumns) {
      buildHeader(body.columns);
      fillColumnSelect(body.columns);
    }
    paintHeader();
    tbody.replaceChildren(
      ...(body.rows.length
        ? body.rows.map((row) => el("tr", {}, body.columns.map((c) => cell(row[c.name], c.type))))
        : [el("tr", {}, [el("td", { class: "empty", colspan: body.columns.length || 1, text: "No rows match." })])]),
    );
    const first = body.rows.length ? state.offset + 1 : 0;
    const filtered = Object.values(state.filters).some((v) => v.trim());
    range.textContent = `Rows ${fmtNumber(first)}–${fmtNumber(state.offset + body.rows.length)} of ${fmtNumber(state.total)}${filtered ? " matching" : ""}`;
    updatePager();
    scroller.setAttribute("aria-busy", "false");
    // Past the end after a filter narrowed the rows: go to the last page that exists.
    if (!body.rows.length && state.offset > 0 && state.total > 0) {
      state.offset = Math.floor((state.total - 1) / state.limit) * state.limit;
      load();
    }
  }

  /* ---------- column panel ---------- */

  function fillColumnSelect(columns) {
    const chosen = columnSelect.value;
    columnSelect.replaceChildren(
      el("option", { value: "", text: "Choose a column…" }),
      ...columns.map((c) => el("option", { value: c.name, text: `${c.name} (${c.type})` })),
    );
    if (columns.some((c) => c.name === chosen)) columnSelect.value = chosen;
  }

  async function showChart(name) {
    columnSelect.value = name;
    for (const button of thead.querySelectorAll(".chart-button")) {
      button.setAttribute("aria-pressed", String(button.dataset.column === name));
    }
    chart.setAttribute("aria-busy", "true");
    chart.replaceChildren(el("p", { class: "muted", text: `Computing ${name}…` }));
    let answer;
    try {
      answer = await request(`/datasets/${id}/columns/${encodeURIComponent(name)}/stats`);
    } catch (_) {
      answer = null;
    }
    if (columnSelect.value !== name) return;
    chart.setAttribute("aria-busy", "false");
    if (!answer || !answer.ok) {
      chart.replaceChildren(el("p", { class: "error", text: answer ? errorMessage(answer) : "Could not reach the server." }));
      return;
    }
    MPChart.render(chart, answer.body);
    if (window.matchMedia("(max-width: 1099px)").matches) {
      document.getElementById("column-panel").scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  columnSelect.addEventListener("change", () => {
    if (columnSelect.value) showChart(columnSelect.value);
  });

  /* ---------- paging controls ---------- */

  buttons.first.addEventListener("click", () => { state.offset = 0; load(); });
  buttons.prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
  buttons.next.addEventListener("click", () => { state.offset += state.limit; load(); });
  buttons.last.addEventListener("click", () => {
    state.offset = Math.max(0, Math.floor((state.total - 1) / state.limit) * state.limit);
    load();
  });
  pageSize.addEventListener("change", () => {
    state.limit = Number(pageSize.value);
    state.offset = Math.floor(state.offset / state.limit) * state.limit;
    load();
  });
  clearButton.addEventListener("click", () => {
    state.sort = [];
    state.filters = {};
    state.offset = 0;
    for (const input of thead.querySelectorAll("input[data-column]")) input.value = "";
    load();
  });

  load();
})();
