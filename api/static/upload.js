/* /upload: pick or drop a file, send it with a byte progress bar, then follow its processing. */
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file");
  const dropzone = document.getElementById("dropzone");
  const fileInfo = document.getElementById("file-info");
  const button = document.getElementById("upload-button");
  const errorBox = document.getElementById("upload-error");
  const progressSection = document.getElementById("progress-section");
  const progress = document.getElementById("upload-progress");
  const percentText = document.getElementById("progress-percent");
  const progressText = document.getElementById("progress-text");
  const statusLine = document.getElementById("status-line");
  const steps = document.getElementById("steps");
  const linkBox = document.getElementById("dataset-link");
  const detection = document.getElementById("detection");
  const detectionBody = document.getElementById("detection-body");
  const identity = document.getElementById("upload-identity");
  const nameInput = document.getElementById("opt-name");
  const nameList = document.getElementById("dataset-names");
  const nameMatch = document.getElementById("name-match");
  const policySelect = document.getElementById("opt-policy");
  const policyDefault = policySelect.querySelector("option[data-default]");
  const POLL_MS = 700;
  const SUGGEST_DELAY_MS = 200;
  const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function describeFile() {
    const file = input.files && input.files[0];
    fileInfo.textContent = file ? `${file.name} · ${MP.fmtBytes(file.size)}` : "No file chosen.";
    if (file) showError("");
  }

  function setBusy(busy) {
    button.disabled = busy;
    input.disabled = busy;
    form.querySelectorAll("input, select").forEach((field) => (field.disabled = busy));
  }

  function setProgress(loaded, total) {
    const percent = total > 0 ? Math.min(100, Math.floor((loaded / total) * 100)) : 0;
    progress.value = percent;
    progress.textContent = `${percent}%`;
    percentText.textContent = `${percent}%`;
    progressText.textContent = `${MP.fmtBytes(loaded)} of ${MP.fmtBytes(total)} sent`;
  }

  function markStep(status) {
    const order = ["uploaded", "queued", "processing", "final"];
    const reached = status === "ready" || status === "failed" ? 3 : order.indexOf(status);
    steps.querySelectorAll("li").forEach((li, index) => {
      li.classList.toggle("done", index < reached || (index === 3 && status === "ready"));
      li.classList.toggle("current", index === reached && status !== "ready" && status !== "failed");
      li.classList.toggle("failed", index === 3 && status === "failed");
      if (index === 3) li.textContent = status === "failed" ? "Failed" : "Ready";
      if (index === reached) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
  }

  /* ---------- the dataset name: suggestions of existing names, and what this upload becomes ---------- */

  let suggestTimer = null;
  let suggestGeneration = 0;

  function nameProblem(name) {
    if (!name || NAME_RE.test(name)) return "";
    return "A dataset name uses ASCII letters (no accents), digits, '.', '_' and '-', and starts with a letter or digit.";
  }

  function describeMatch(name, match) {
    policyDefault.textContent = match
      ? `keep ${match.on_schema_change} (the dataset's current policy)`
      : "pin (the default for a new dataset)";
    nameInput.setAttribute("aria-invalid", String(Boolean(nameProblem(name))));
    nameMatch.dataset.state = !name ? "" : nameProblem(name) ? "invalid" : match ? "existing" : "new";
    if (!name) nameMatch.textContent = "";
    else if (nameProblem(name)) nameMatch.textContent = nameProblem(name);
    else if (match) {
      const count = `${match.versions} version${match.versions === 1 ? "" : "s"}`;
      nameMatch.textContent = `${match.name} exists (${count}): this file becomes version ${match.next_version}.`;
    } else nameMatch.textContent = `A new dataset: this file becomes version 1 of ${name}.`;
  }

  async function suggestNames() {
    const mine = ++suggestGeneration;
    const name = nameInput.value.trim();
    let answer;
    try {
      answer = await MP.request(`/ui/names?${new URLSearchParams({ prefix: nameProblem(name) ? "" : name })}`);
    } catch (_) {
      return; // suggestions are a help, never a requirement
    }
    if (mine !== suggestGeneration || !answer.ok || !answer.body) return;
    const names = Array.isArray(answer.body.names) ? answer.body.names : [];
    nameList.replaceChildren(...names.map((n) => MP.el("option", { value: n })));
    describeMatch(name, answer.body.match);
  }

  nameInput.addEventListener("input", () => {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(suggestNames, SUGGEST_DELAY_MS);
  });
  nameInput.addEventListener("change", () => {
    clearTimeout(suggestTimer);
    suggestNames();
  });

  function options() {
    const params = new URLSearchParams();
    const name = nameInput.value.trim();
    if (name) params.set("name", name);
    if (policySelect.value) params.set("on_schema_change", policySelect.value);
    // Listed only when the operator registered transforms.
    const transform = document.getElementById("opt-transform");
    if (transform && transform.value) params.set("transform", transform.value);
    const encoding = document.getElementById("opt-encoding").value.trim();
    const delimiter = document.getElementById("opt-delimiter").value;
    const headerRow = document.getElementById("opt-header-row").value.trim();
    if (encoding) params.set("encoding", encoding);
    if (delimiter) params.set("delimiter", delimiter);
    if (headerRow) params.set("header_row", headerRow);
    if (document.getElementById("opt-no-header").checked) params.set("no_header", "true");
    const text = (id) => document.getElementById(id).value.trim();
    const checked = (id) => document.getElementById(id).checked;
    if (text("opt-sheet")) params.set("sheet", text("opt-sheet"));
    if (text("opt-skip-rows")) params.set("skip_rows", text("opt-skip-rows"));
    if (text("opt-null-tokens")) params.set("null_tokens", text("opt-null-tokens"));
    if (checked("opt-null-tokens-replace")) params.set("null_tokens_replace", "true");
    if (text("opt-decimal")) params.set("decimal", text("opt-decimal"));
    if (text("opt-date-order")) params.set("date_order", text("opt-date-order"));
    if (text("opt-types")) params.set("types", text("opt-types"));
    if (checked("opt-dedupe")) params.set("dedupe", "true");
    return params;
  }

  async function showReport(id) {
    const answer = await fetch(`/ui/datasets/${id}?fragment=report`);
    detectionBody.innerHTML = await answer.text();
    detection.hidden = false;
  }

  async function follow(id) {
    let answer;
    try {
      answer = await MP.request(`/datasets/${id}/status`);
    } catch (_) {
      statusLine.textContent = "Lost contact with the server; retrying…";
      setTimeout(() => follow(id), POLL_MS * 3);
      return;
    }
    if (!answer.ok) {
      statusLine.textContent = MP.errorMessage(answer);
      return;
    }
    const status = answer.body.status;
    progressSection.dataset.status = status;
    markStep(status);
    if (status === "ready") {
      statusLine.textContent = `Ready: ${MP.fmtNumber(answer.body.rows_out)} rows kept of ${MP.fmtNumber(answer.body.rows_in)} read.`;
    } else if (status === "failed") {
      statusLine.textContent = `Failed: ${answer.body.error || "no message"}`;
    } else {
      statusLine.textContent = status === "queued" ? "Queued for processing…" : "Processing…";
      setTimeout(() => follow(id), POLL_MS);
      return;
    }
    linkBox.hidden = false;
    await showReport(id);
  }

  function upload(file) {
    showError("");
    setBusy(true);
    progressSection.hidden = false;
    detection.hidden = true;
    linkBox.hidden = true;
    statusLine.textContent = "";
    delete progressSection.dataset.status;
    delete progressSection.dataset.datasetId;
    delete progressSection.dataset.name;
    delete progressSection.dataset.version;
    identity.hidden = true;
    markStep("uploading");
    setProgress(0, file.size);

    const body = new FormData();
    body.append("file", file, file.name);
    const query = options().toString();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", query ? `/upload?${query}` : "/upload");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) setProgress(event.loaded, event.total);
    });
    xhr.upload.addEventListener("load", () => {
      statusLine.textContent = "All bytes sent; the server is storing the file…";
    });
    xhr.addEventListener("load", () => {
      setBusy(false);
      let answer = null;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch (_) {
        answer = null;
      }
      if (xhr.status !== 202 || !answer || !answer.id) {
        progressSection.hidden = true;
        showError(MP.errorMessage({ status: xhr.status, body: answer }));
        return;
      }
      // Every byte arrived: the server only answers 202 once the file is stored.
      setProgress(file.size, file.size);
      progressSection.dataset.datasetId = answer.id;
      if (answer.name) progressSection.dataset.name = answer.name;
      if (answer.version) progressSection.dataset.version = String(answer.version);
      // The version's own page: it stays this version whatever is uploaded next.
      linkBox.querySelector("a").href = (answer.links && answer.links.ui) || `/ui/datasets/${answer.id}`;
      statusLine.textContent = "Uploaded. Waiting for the processor…";
      identity.hidden = !(answer.name && answer.name !== answer.id);
      identity.textContent = identity.hidden ? "" : `Version ${answer.version} of ${answer.name}`;
      markStep("queued");
      follow(answer.id);
    });
    xhr.addEventListener("error", () => {
      setBusy(false);
      progressSection.hidden = true;
      showError("The upload did not reach the server (network error). Nothing was stored.");
    });
    xhr.send(body);
  }

  input.addEventListener("change", describeFile);

  ["dragenter", "dragover"].forEach((type) =>
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      dropzone.classList.add("dragover");
    }),
  );
  ["dragleave", "dragend"].forEach((type) =>
    dropzone.addEventListener(type, () => dropzone.classList.remove("dragover")),
  );
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("dragover");
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || files.length === 0) return;
    if (files.length > 1) {
      showError("Drop one file at a time.");
      return;
    }
    input.files = files;
    describeFile();
  });
  // A file dropped beside the zone must not make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files && input.files[0];
    if (!file) {
      showError("Choose a CSV file first.");
      input.focus();
      return;
    }
    const problem = nameProblem(nameInput.value.trim());
    if (problem) {
      showError(problem);
      nameInput.focus();
      return;
    }
    upload(file);
  });

  document.getElementById("upload-another").addEventListener("click", () => {
    form.reset();
    describeFile();
    describeMatch("", null);
    progressSection.hidden = true;
    detection.hidden = true;
    input.focus();
  });

  describeFile();
  suggestNames();
})();
