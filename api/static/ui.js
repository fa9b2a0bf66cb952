/* Small helpers shared by the pages. No framework, no build step. */
"use strict";

window.MP = (function () {
  const numberFormat = new Intl.NumberFormat("en-US");

  function fmtNumber(value) {
    return value === null || value === undefined ? "—" : numberFormat.format(value);
  }

  function fmtBytes(value) {
    if (value === null || value === undefined) return "—";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let size = value;
    let unit = 0;
    while (size >= 1000 && unit < units.length - 1) {
      size /= 1000;
      unit += 1;
    }
    return unit === 0 ? `${size} B` : `${size.toFixed(1)} ${units[unit]}`;
  }

  /* el("p", {class: "x", text: "hi"}, [children]) — text is always set as text, never HTML. */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /* Any answer, parsed: {status, ok, body, text, contentType}. Network errors reject. */
  async function request(url, options) {
    const response = await fetch(url, Object.assign({ headers: { Accept: "application/json" } }, options));
    const contentType = response.headers.get("content-type") || "";
    const text = await response.text();
    let body = null;
    if (contentType.includes("json")) {
      try {
        body = JSON.parse(text);
      } catch (_) {
        body = null;
      }
    }
    return { status: response.status, ok: response.ok, body, text, contentType };
  }

  /* The API's error shape is {"error": {"code", "message"}}. */
  function errorMessage(answer) {
    const error = answer && answer.body && answer.body.error;
    if (error && error.message) return error.message;
    return `The server answered ${answer.status}.`;
  }

  return { fmtNumber, fmtBytes, el, request, errorMessage };
})();
