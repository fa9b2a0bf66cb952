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
  const POLL_MS = 700;

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

  function options() {
    const params = new URLSearchParams();
    const encoding = document.getElementById("opt-encoding").value.trim();
    const delimiter = document.getElementById("opt-delimiter").value;
    const headerRow = document.getElementById("opt-header-row").value.trim();
    if (encoding) params.set("encoding", encoding);
    if (delimiter) params.set("delimiter", delimiter);
    if (headerRow) params.set("header_row", headerRow);
    if (document.getElementById("opt-no-header").checked) params.set("no_header", "true");
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
      linkBox.querySelector("a").href = `/ui/datasets/${answer.id}`;
      statusLine.textContent = "Uploaded. Waiting for the processor…";
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
    upload(file);
  });

  document.getElementById("upload-another").addEventListener("click", () => {
    form.reset();
    describeFile();
    progressSection.hidden = true;
    detection.hidden = true;
    input.focus();
  });

  describeFile();
})();
