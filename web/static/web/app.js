// The chat page: state loaded through the REST API, kept live by one transport.
//
// Every transport feeds the same `handleEvent(envelope)` with envelopes
// `{type, chat_id, id, data, ts}`. A transport calls `onResync()` when it cannot prove it
// delivered everything since the last event (first connect, or a gap history could not
// cover): the page then reloads its state through REST, holding back events meanwhile.
// `?transport=<name>` picks `./transports/<name>.js` (default `ws`, Centrifugo); each
// transport module exports `connect({config, onEvent, onState, onResync, lastEventId})`
// returning `{close()}`; `lastEventId()` is the highest event id applied so far, or null.
//
// User text only ever reaches the DOM through textContent.

const config = JSON.parse(document.getElementById("page-config").textContent);
const me = config.user.id;
const currentChatId = config.chat_id;

const state = {
  chats: new Map(), // id -> chat
  unread: new Set(), // chat ids with messages not seen on this page
  messages: new Map(), // id -> message (current chat only)
  members: new Map(), // user id -> membership (current chat only)
  seen: new Set(), // event ids already applied
  resyncing: null, // the running snapshot load, or null
  resyncAgain: false, // asked for while one ran: it may have started too early
  held: [], // events that arrived during a snapshot load
  chatGone: null, // why the current chat is no longer ours
  snapshots: 0, // how many times the state was (re)loaded through REST
  lastEventId: null, // the highest event id applied
};

// ---------------------------------------------------------------- REST

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(config.urls.api + path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.message || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function showError(text) {
  const box = document.getElementById("error");
  box.textContent = text;
  box.hidden = !text;
}

// ---------------------------------------------------------------- events

export function handleEvent(envelope) {
  if (!envelope || typeof envelope.id !== "number") return;
  if (state.resyncing) {
    state.held.push(envelope);
    return;
  }
  applyOnce(envelope);
}

function applyOnce(envelope) {
  if (state.seen.has(envelope.id)) return; // a transport may deliver an event twice
  state.seen.add(envelope.id);
  if (state.lastEventId === null || envelope.id > state.lastEventId) state.lastEventId = envelope.id;
  const handler = handlers[envelope.type];
  if (handler) handler(envelope.data, envelope);
}

const handlers = {
  "chat.created"(chat) {
    upsertChat(chat);
  },
  "chat.updated"(chat) {
    upsertChat(chat);
    if (chat.id === currentChatId) renderChatTitle();
  },
  "chat.deleted"(data) {
    dropChat(data.id, "This chat was deleted.");
  },
  "member.added"(data, envelope) {
    if (data.user.id === me && data.chat) upsertChat(data.chat);
    if (envelope.chat_id === currentChatId) {
      state.members.set(data.user.id, data);
      renderMembers();
    }
  },
  "member.updated"(data, envelope) {
    if (envelope.chat_id === currentChatId) {
      state.members.set(data.user.id, data);
      renderMembers();
    }
  },
  "member.removed"(data, envelope) {
    if (data.user_id === me) {
      dropChat(envelope.chat_id, "You are no longer a member of this chat.");
    } else if (envelope.chat_id === currentChatId) {
      state.members.delete(data.user_id);
      renderMembers();
    }
  },
  "message.created"(message) {
    const chat = state.chats.get(message.chat_id);
    if (chat) {
      chat.last_activity_at = message.created_at;
      if (message.chat_id !== currentChatId && message.author?.id !== me) state.unread.add(chat.id);
      renderChatList();
    }
    if (message.chat_id === currentChatId) upsertMessage(message);
  },
  "message.updated"(message) {
    if (message.chat_id === currentChatId) upsertMessage(message);
  },
  "message.deleted"(message) {
    if (message.chat_id === currentChatId) upsertMessage(message);
  },
};

function upsertChat(chat) {
  const known = state.chats.has(chat.id);
  state.chats.set(chat.id, { ...state.chats.get(chat.id), ...chat });
  renderChatList();
  if (!known) chatsChanged();
}

function dropChat(chatId, reason) {
  state.chats.delete(chatId);
  chatsChanged();
  state.unread.delete(chatId);
  renderChatList();
  if (chatId === currentChatId) {
    state.chatGone = reason;
    renderChatTitle();
  }
}

function upsertMessage(message) {
  state.messages.set(message.id, message);
  renderMessages();
}

// ---------------------------------------------------------------- snapshot (REST)

// Every page of a list endpoint (?limit=&offset=, following next_offset).
async function allPages(path) {
  const rows = [];
  for (let offset = 0; offset !== null; ) {
    const page = await api(`${path}?limit=200&offset=${offset}`);
    rows.push(...page.results);
    offset = page.next_offset;
  }
  return rows;
}

async function loadSnapshot() {
  const chats = await allPages("chats/");
  state.chats = new Map(chats.map((chat) => [chat.id, chat]));
  if (currentChatId !== null) {
    try {
      const [chat, members, messages] = await Promise.all([
        api(`chats/${currentChatId}/`),
        allPages(`chats/${currentChatId}/members/`),
        loadAllMessagesSince(),
      ]);
      state.chats.set(chat.id, chat);
      state.members = new Map(members.map((m) => [m.user.id, m]));
      for (const message of messages) state.messages.set(message.id, message);
      state.chatGone = null;
    } catch (error) {
      if (error.status !== 404) throw error;
      state.chatGone = "This chat is gone, or you are no longer a member.";
    }
  }
}

// The newest page on a first load; after a gap, every message after the newest one held.
async function loadAllMessagesSince() {
  const known = [...state.messages.keys()];
  if (!known.length) return (await api(`chats/${currentChatId}/messages/?limit=100`)).results;
  // Edits and deletions of older messages are not in these pages: reload the last 100 too.
  const recent = (await api(`chats/${currentChatId}/messages/?limit=100`)).results;
  const out = [...recent];
  let after = Math.max(...known);
  for (;;) {
    const page = await api(`chats/${currentChatId}/messages/?after=${after}&limit=100`);
    out.push(...page.results);
    if (!page.has_newer || !page.results.length) break;
    after = page.results[page.results.length - 1].id;
  }
  return out;
}

async function resync() {
  if (state.resyncing) {
    state.resyncAgain = true;
    return state.resyncing;
  }
  state.held = [];
  state.snapshots += 1;
  console.log("resync", state.snapshots, new Error().stack);
  state.resyncing = (async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        await loadSnapshot();
        break;
      } catch (error) {
        showError(`Could not load: ${error.message}. Retrying…`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** attempt, 15000)));
      }
    }
    showError("");
  })();
  try {
    await state.resyncing;
  } finally {
    state.resyncing = null;
    const held = state.held;
    state.held = [];
    renderAll();
    chatsChanged();
    for (const envelope of held) applyOnce(envelope);
    document.body.dataset.ready = "true";
    if (state.resyncAgain) {
      state.resyncAgain = false;
      resync();
    }
  }
}

// The transport hears of every change to the chats listed (WebSocket subscribes per chat);
// until the first snapshot the page's own list (`config.chat_ids`) stands.
let activeTransport = null;
function chatsChanged() {
  if (state.snapshots && !state.resyncing) activeTransport?.chatsChanged?.([...state.chats.keys()]);
}

// ---------------------------------------------------------------- rendering

function el(tag, { text, className, attrs } = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

function chatName(chat) {
  return chat.title || `${chat.kind === "direct" ? "Direct" : "Group"} chat #${chat.id}`;
}

function renderChatList() {
  const list = document.getElementById("chat-list");
  const chats = [...state.chats.values()].sort(
    (a, b) => (b.last_activity_at || "").localeCompare(a.last_activity_at || "") || b.id - a.id,
  );
  list.replaceChildren(
    ...chats.map((chat) => {
      const item = el("li", { attrs: { "data-chat-id": String(chat.id) } });
      if (chat.id === currentChatId) item.className = "current";
      const link = el("a", { text: chatName(chat), attrs: { href: `/chats/${chat.id}/` } });
      item.append(link);
      if (state.unread.has(chat.id)) item.append(el("span", { text: "new", className: "badge" }));
      return item;
    }),
  );
}

function renderChatTitle() {
  if (currentChatId === null) return;
  const chat = state.chats.get(currentChatId);
  if (chat) {
    document.getElementById("chat-title").textContent = chatName(chat);
    document.title = `${chatName(chat)} · Messenger`;
  }
  const notice = document.getElementById("chat-notice");
  notice.textContent = state.chatGone || "";
  notice.hidden = !state.chatGone;
  for (const form of document.querySelectorAll("#send-box, #add-member")) {
    for (const control of form.elements) control.disabled = Boolean(state.chatGone);
  }
}

function renderMessages() {
  if (currentChatId === null) return;
  const list = document.getElementById("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const messages = [...state.messages.values()].sort((a, b) => a.id - b.id);
  list.replaceChildren(
    ...messages.map((message) => {
      const item = el("li", { className: "message", attrs: { "data-message-id": String(message.id) } });
      if (message.author?.id === me) item.classList.add("mine");
      item.append(el("span", { className: "author", text: message.author ? message.author.username : "(deleted user)" }));
      if (message.deleted_at) {
        item.classList.add("deleted");
        item.append(el("span", { className: "text", text: "message deleted" }));
      } else {
        item.append(el("span", { className: "text", text: message.text }));
        if (message.edited_at) item.append(el("span", { className: "edited", text: "(edited)" }));
      }
      const time = new Date(message.created_at);
      item.append(el("time", { text: time.toLocaleTimeString(), attrs: { datetime: message.created_at } }));
      if (message.author?.id === me && !message.deleted_at) item.append(messageActions(message));
      return item;
    }),
  );
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function messageActions(message) {
  const box = el("span", { className: "actions" });
  const edit = el("button", { text: "edit", attrs: { type: "button" } });
  edit.addEventListener("click", () => {
    const text = window.prompt("Edit message", message.text);
    if (text !== null && text.trim()) {
      api(`chats/${currentChatId}/messages/${message.id}/`, { method: "PATCH", body: { text } }).catch((e) =>
        showError(e.message),
      );
    }
  });
  const remove = el("button", { text: "delete", attrs: { type: "button" } });
  remove.addEventListener("click", () => {
    api(`chats/${currentChatId}/messages/${message.id}/`, { method: "DELETE" }).catch((e) => showError(e.message));
  });
  box.append(edit, remove);
  return box;
}

function renderMembers() {
  if (currentChatId === null) return;
  const members = [...state.members.values()].sort((a, b) => a.user.username.localeCompare(b.user.username));
  document.getElementById("members").replaceChildren(
    ...members.map((m) => {
      const item = el("li", { attrs: { "data-user-id": String(m.user.id) } });
      item.append(el("span", { text: m.user.username }), el("span", { className: "role", text: m.role }));
      return item;
    }),
  );
}

function renderAll() {
  renderChatList();
  renderChatTitle();
  renderMessages();
  renderMembers();
}

function setConnectionState(name) {
  const badge = document.getElementById("connection-state");
  if (!badge) return;
  badge.dataset.state = name;
  badge.textContent = { connected: "live", connecting: "connecting…", disconnected: "offline" }[name] || name;
}

// ---------------------------------------------------------------- forms

function onSubmit(id, handler) {
  const form = document.getElementById(id);
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      await handler(data, form);
      showError("");
    } catch (error) {
      showError(error.message);
    }
  });
}

onSubmit("send-box", async ({ text }, form) => {
  if (!text.trim()) return;
  // A client id makes a retried POST (lost answer) return the first message, not a copy.
  const clientId = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  const message = await api(`chats/${currentChatId}/messages/`, {
    method: "POST",
    body: { text, client_id: clientId },
  });
  form.reset();
  upsertMessage(message); // the event follows; the page shows the message at once
});

onSubmit("new-chat", async ({ title }, form) => {
  const chat = await api("chats/", { method: "POST", body: { title: title.trim() } });
  form.reset();
  upsertChat(chat);
});

onSubmit("add-member", async ({ username }, form) => {
  const response = await fetch(`${config.urls.lookup}?username=${encodeURIComponent(username.trim())}`, {
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`No user named ${username.trim()}.`);
  const user = await response.json();
  await api(`chats/${currentChatId}/members/`, { method: "POST", body: { user_id: user.id } });
  form.reset();
});

// ---------------------------------------------------------------- start

// The transports, best first. When one cannot connect (a proxy that kills WebSockets, a
// buffering proxy that holds back the event stream), the page falls back to the next one;
// the SSE, long-poll and poll transports resume from the last event applied, so nothing is
// reloaded and nothing is missed.
const TRANSPORTS = ["ws", "sse", "longpoll", "poll"];
const CONNECT_TIMEOUT_MS = 10000;

function showTransport(name, fellBack) {
  const badge = document.getElementById("connection-state");
  let label = document.getElementById("transport-name");
  if (!label && badge) {
    label = el("span", { className: "state", attrs: { id: "transport-name", title: "How events reach this page" } });
    badge.after(label);
  }
  document.body.dataset.transport = name;
  if (label) label.textContent = fellBack ? `via ${name} (fallback)` : `via ${name}`;
}

async function startTransport(index, requested) {
  const name = TRANSPORTS[index];
  showTransport(name, index !== requested);
  let settled = false;
  let transport = null;
  const fallBack = (reason) => {
    if (settled === "failed") return;
    settled = "failed";
    clearTimeout(timer);
    try {
      transport?.close();
    } catch (error) {
      console.warn(error);
    }
    if (index + 1 < TRANSPORTS.length) {
      console.warn(`transport ${name} failed (${reason}); trying ${TRANSPORTS[index + 1]}`);
      startTransport(index + 1, requested);
    } else {
      showError(`No way to receive updates works here: ${reason}`);
    }
  };
  const timer = setTimeout(() => {
    if (!settled) fallBack(`no connection after ${CONNECT_TIMEOUT_MS / 1000} s`);
  }, CONNECT_TIMEOUT_MS);
  try {
    const module = await import(`./transports/${name}.js`);
    transport = module.connect({
      config,
      onEvent: handleEvent,
      onState: (connectionState) => {
        if (connectionState === "connected" && !settled) {
          settled = "connected";
          clearTimeout(timer);
        }
        if (settled !== "failed") setConnectionState(connectionState);
      },
      onResync: resync,
      lastEventId: () => state.lastEventId,
      onFail: fallBack,
    });
    activeTransport = transport;
    window.messenger = { state, handleEvent, transport, transportName: name };
  } catch (error) {
    fallBack(error.message);
  }
}

async function start() {
  const name = new URLSearchParams(window.location.search).get("transport") || "ws";
  const index = TRANSPORTS.indexOf(name);
  if (index < 0) throw new Error(`unknown transport ${name}: one of ${TRANSPORTS.join(", ")}`);
  window.messenger = { state, handleEvent };
  await startTransport(index, index);
}

start().catch((error) => showError(error.message));
