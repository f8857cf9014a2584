// Attachments on the chat page. A file dropped on the chat, or chosen with the 📎 button,
// goes up with the message box's text as one message (XHR: its upload progress drives the
// progress bar). Each attachment shows under its message: from the attachment.created and
// .updated events, and for messages loaded through REST from one batched read. An image
// shows its thumbnail once the media worker made it (attachment.updated, status "ready").
//
// User text only ever reaches the DOM through textContent and attributes.

const byMessage = new Map(); // message id -> Map(attachment id -> attachment)
const asked = new Set(); // message ids whose attachments were read through REST
const toAsk = new Set();
let askTimer = null;
let page = null; // {config, chatId, csrfToken, showError}

const RANK = { pending: 0, ready: 1, failed: 1 };

function put(attachment) {
  let list = byMessage.get(attachment.message_id);
  if (!list) byMessage.set(attachment.message_id, (list = new Map()));
  const known = list.get(attachment.id);
  // A REST read may answer after the event that made it ready: never go back to pending.
  if (known && RANK[known.status] > RANK[attachment.status]) return;
  list.set(attachment.id, attachment);
  const item = document.querySelector(`#messages li[data-message-id="${attachment.message_id}"]`);
  if (item && !item.classList.contains("deleted")) renderInto(attachment.message_id, item);
}

export const attachmentHandlers = {
  "attachment.created"(attachment) {
    put(attachment);
  },
  "attachment.updated"(attachment) {
    put(attachment);
  },
};

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function attachmentElement(attachment) {
  const link = document.createElement("a");
  link.href = attachment.url;
  link.target = "_blank";
  link.rel = "noopener";
  link.className = `attachment ${attachment.status}`;
  link.dataset.attachmentId = String(attachment.id);
  if (attachment.thumbnail_url) {
    const img = document.createElement("img");
    img.className = "thumbnail";
    img.src = attachment.thumbnail_url;
    img.alt = attachment.name;
    img.loading = "lazy";
    link.append(img);
  } else {
    const label = attachment.status === "pending" ? "preparing preview…" : sizeText(attachment.size);
    link.textContent = `📎 ${attachment.name} (${label})`;
  }
  return link;
}

function renderInto(messageId, item) {
  const list = byMessage.get(messageId);
  item.querySelector(":scope > .attachments")?.remove();
  if (!list || list.size === 0) return;
  const box = document.createElement("div");
  box.className = "attachments";
  for (const attachment of [...list.values()].sort((a, b) => a.id - b.id)) box.append(attachmentElement(attachment));
  const time = item.querySelector(":scope > time");
  if (time) time.before(box);
  else item.append(box);
}

// Called by the page for each message it renders (app.js renderMessages).
export function decorateMessage(message, item) {
  if (!page || message.deleted_at) return;
  renderInto(message.id, item);
  if (!asked.has(message.id) && !byMessage.has(message.id)) {
    asked.add(message.id);
    toAsk.add(message.id);
    if (!askTimer) askTimer = setTimeout(askNow, 0);
  }
}

async function askNow() {
  askTimer = null;
  const ids = [...toAsk];
  toAsk.clear();
  for (let start = 0; start < ids.length; start += 200) {
    const query = new URLSearchParams({ chat_id: String(page.chatId) });
    for (const id of ids.slice(start, start + 200)) query.append("message_id", String(id));
    try {
      const response = await fetch(`${page.config.urls.api}attachments/?${query}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) continue;
      for (const attachment of (await response.json()).results) put(attachment);
    } catch (error) {
      console.warn(error);
    }
  }
}

// ---------------------------------------------------------------- upload

function upload(file, form, progress) {
  const input = form.elements.text;
  const data = new FormData();
  data.append("chat_id", String(page.chatId));
  data.append("file", file);
  data.append("text", input.value);
  data.append("client_id", crypto.randomUUID());
  const request = new XMLHttpRequest();
  request.open("POST", `${page.config.urls.api}attachments/`);
  request.setRequestHeader("X-CSRFToken", page.csrfToken());
  request.setRequestHeader("Accept", "application/json");
  progress.hidden = false;
  progress.value = 0;
  form.dataset.upload = "sending";
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
  });
  request.addEventListener("load", () => {
    let body = {};
    try {
      body = JSON.parse(request.responseText);
    } catch (error) {
      body = {};
    }
    if (request.status >= 200 && request.status < 300) {
      progress.value = 100;
      form.dataset.upload = "done";
      input.value = "";
      if (body.attachment) put(body.attachment);
      page.showError("");
    } else {
      form.dataset.upload = "failed";
      page.showError(body.message || `Upload failed (HTTP ${request.status}).`);
    }
    setTimeout(() => (progress.hidden = true), 800);
  });
  request.addEventListener("error", () => {
    form.dataset.upload = "failed";
    progress.hidden = true;
    page.showError("Upload failed: the connection broke.");
  });
  request.send(data);
}

export function startAttachments({ config, chatId, csrfToken, showError }) {
  page = { config, chatId, csrfToken, showError };
  const form = document.getElementById("send-box");
  const pane = document.getElementById("chat-pane");
  if (!form || !pane) return;
  const label = document.createElement("label");
  label.className = "attach";
  label.title = "Attach a file (or drop it on the chat)";
  label.textContent = "📎";
  const picker = document.createElement("input");
  picker.type = "file";
  picker.name = "file";
  picker.hidden = true;
  label.append(picker);
  const progress = document.createElement("progress");
  progress.id = "upload-progress";
  progress.max = 100;
  progress.hidden = true;
  form.prepend(label);
  form.after(progress);
  picker.addEventListener("change", () => {
    if (picker.files[0]) upload(picker.files[0], form, progress);
    picker.value = "";
  });
  pane.addEventListener("dragover", (event) => {
    if ([...(event.dataTransfer?.types || [])].includes("Files")) {
      event.preventDefault();
      pane.classList.add("dropping");
    }
  });
  pane.addEventListener("dragleave", () => pane.classList.remove("dropping"));
  pane.addEventListener("drop", (event) => {
    pane.classList.remove("dropping");
    const file = event.dataTransfer?.files?.[0];
    if (!file) return;
    event.preventDefault();
    upload(file, form, progress);
  });
}
