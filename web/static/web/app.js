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

import { startLive } from "./live.js";
import { attachmentHandlers, decorateMessage, startAttachments } from "./attachments.js";
import { startPush } from "./push.js";
import { startMessaging } from "./messaging.js";

const config = JSON.parse(document.getElementById("page-config").textContent);
const me = config.user.id;
const currentChatId = config.chat_id;

const state = {
  chats: new Map(), // id -> chat, with the caller's unread_count, mention_count, last_read_id
  messages: new Map(), // id -> message (current chat only)
  members: new Map(), // user id -> membership (current chat only)
  seen: new Set(), // event ids already applied
  resyncing: null, // the running snapshot load, or null
  resyncAgain: false, // asked for while one ran: it may have started too early
  held: [], // events that arrived during a snapshot load
  chatGone: null, // why the current chat is no longer ours
  snapshots: 0, // how many times the state was (re)loaded through REST
  lastEventId: null, // the highest event id applied
  markers: new Map(), // user id -> last read message id (current chat only)
  typing: new Map(), // user id -> {username, until} (current chat only)
  online: new Set(), // user ids viewing the current chat now
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
  messaging?.onEvent(envelope);
}

// Replies, reactions, edit history, desktop notifications (messaging.js), from startFeatures.
let messaging = null;

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
      countUnread(chat, message);
      renderChatList();
    }
    if (message.chat_id === currentChatId) {
      upsertMessage(message);
      typingStopped(message.author?.id);
    }
  },
  "message.updated"(message) {
    if (message.chat_id === currentChatId) upsertMessage(message);
  },
  "message.deleted"(message) {
    if (message.chat_id === currentChatId) upsertMessage(message);
  },
  "read.updated"(data) {
    readUpdated(data);
  },
  ...attachmentHandlers,
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
  renderChatList();
  if (chatId === currentChatId) {
    state.chatGone = reason;
    renderChatTitle();
  }
}

function upsertMessage(message) {
  state.messages.set(message.id, message);
  renderMessages();
  markReadSoon();
}

// ---------------------------------------------------------------- snapshot (REST)

// Every page of a list endpoint (?limit=&offset=, following next_offset), up to `max` rows.
async function allPages(path, max = Infinity) {
  const rows = [];
  for (let offset = 0; offset !== null && rows.length < max; ) {
    const page = await api(`${path}?limit=200&offset=${offset}`);
    rows.push(...page.results);
    offset = page.next_offset;
  }
  return rows;
}

// A room of 10,000 is not loaded whole on every (re)connect: the first members are listed,
// the rest are found by the member search (messaging.js, `?q=`).
const MEMBERS_LOADED_MAX = 1000;

async function loadSnapshot() {
  const chats = await allPages("chats/");
  state.chats = new Map(chats.map((chat) => [chat.id, chat]));
  if (currentChatId !== null) {
    try {
      const [chat, members, messages, markers] = await Promise.all([
        api(`chats/${currentChatId}/`),
        allPages(`chats/${currentChatId}/members/`, MEMBERS_LOADED_MAX),
        loadAllMessagesSince(),
        api(`chats/${currentChatId}/reads/`),
      ]);
      state.chats.set(chat.id, { ...state.chats.get(chat.id), ...chat });
      state.members = new Map(members.map((m) => [m.user.id, m]));
      state.markers = new Map(markers.map((m) => [m.user_id, m.last_read_id]));
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
      item.append(link, ...chatBadges(chat));
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
  messaging?.chatRendered(chat);
}

// A press on the message list (pointer down … up) is never split by a render: the button
// under the pointer would be replaced between the two, and its click lost. A render asked for
// meanwhile waits for the release (startFeatures).
let listPressed = false;
let renderWaiting = false;

function renderMessages() {
  if (currentChatId === null) return;
  if (listPressed) {
    renderWaiting = true;
    return;
  }
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
        item.append(messageText(message, item));
        if (message.edited_at) item.append(el("span", { className: "edited", text: "(edited)" }));
      }
      const time = new Date(message.created_at);
      item.append(el("time", { text: time.toLocaleTimeString(), attrs: { datetime: message.created_at } }));
      decorateMessage(message, item); // its attachments (attachments.js)
      if (message.author?.id === me && !message.deleted_at) item.append(messageActions(message));
      const receipt = readReceipt(message, messages);
      if (receipt) item.append(receipt);
      messaging?.decorate(item, message);
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
      item.append(onlineDot(m.user.id), el("span", { text: m.user.username }), el("span", { className: "role", text: m.role }));
      return item;
    }),
  );
}

function renderAll() {
  renderChatList();
  renderChatTitle();
  renderMessages();
  renderMembers();
  markReadSoon();
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
    body: { text, client_id: clientId, ...messaging?.replyFields() },
  });
  form.reset();
  messaging?.replySent();
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

// ---------------------------------------------------------------- read state, mentions,
// typing, presence, search, notification settings (issue 12). Kept apart from the rest so
// that each hooks into it by one call: chatBadges, messageText, readReceipt, onlineDot in
// rendering; countUnread, readUpdated, typingStopped in the event handlers; markReadSoon
// after messages change; startFeatures at start.


const TYPING_SEND_EVERY_MS = 2000; // the server's throttle (TYPING_THROTTLE_SECONDS)
const TYPING_SHOWN_MS = 4000; // "X is typing" disappears this long after the last signal
const MARK_READ_DELAY_MS = 250;

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
}

// The server's rule (reads/mentions.py): @name not inside a word, the name in full.
const mentionOfMe = new RegExp(
  `(^|[^\\w@.+-])@${escapeRegExp(config.user.username)}($|[^\\w@+.-]|\\.+($|[^\\w@+-]))`,
  "i",
);

function mentionsMe(text) {
  return mentionOfMe.test(text || "");
}

// A message that arrives for a chat not read on this page counts as unread (the server's
// counts come with the chat list and after every read).
function countUnread(chat, message) {
  if (message.author?.id === me) return;
  if (message.chat_id === currentChatId && !document.hidden && !state.chatGone) return; // read at once
  chat.unread_count = (chat.unread_count || 0) + 1;
  if (mentionsMe(message.text)) chat.mention_count = (chat.mention_count || 0) + 1;
}

function chatBadges(chat) {
  const badges = [];
  if (chat.unread_count > 0) {
    const text = chat.unread_more ? `${chat.unread_count}+` : String(chat.unread_count);
    badges.push(el("span", { text, className: "badge unread", attrs: { title: "unread messages" } }));
  }
  if (chat.mention_count > 0) {
    badges.push(el("span", { text: `@${chat.mention_count}`, className: "badge mention", attrs: { title: "mentions of you" } }));
  }
  return badges;
}

let markReadTimer = null;

// Moves the read marker to the newest message shown, when this page is visible.
function markReadSoon() {
  if (currentChatId === null || state.chatGone || document.hidden || markReadTimer) return;
  markReadTimer = setTimeout(async () => {
    markReadTimer = null;
    const chat = state.chats.get(currentChatId);
    const newest = Math.max(0, ...state.messages.keys());
    if (!chat || newest <= (chat.last_read_id || 0)) {
      if (chat?.unread_count) {
        Object.assign(chat, { unread_count: 0, mention_count: 0 });
        renderChatList();
      }
      return;
    }
    try {
      const read = await api(`chats/${currentChatId}/read/`, { method: "POST", body: { up_to: newest } });
      applyReadState(read);
    } catch (error) {
      console.warn("marking read failed", error);
    }
  }, MARK_READ_DELAY_MS);
}

function applyReadState(read) {
  const chat = state.chats.get(read.chat_id);
  if (!chat || read.last_read_id < (chat.last_read_id || 0)) return;
  Object.assign(chat, {
    last_read_id: read.last_read_id,
    unread_count: read.unread_count,
    mention_count: read.mention_count,
    unread_more: read.unread_more,
  });
  renderChatList();
}

// read.updated: "seen" / "read by N" in the open chat; the reader's own other tabs take the
// chat's fresh counts from the server.
function readUpdated(data) {
  if (data.chat_id === currentChatId) {
    if (data.last_read_id > (state.markers.get(data.user_id) || 0)) state.markers.set(data.user_id, data.last_read_id);
    renderMessages();
  }
  const chat = state.chats.get(data.chat_id);
  if (data.user_id === me && chat && data.last_read_id > (chat.last_read_id || 0)) {
    chat.last_read_id = data.last_read_id;
    api(`chats/${data.chat_id}/read/`).then(applyReadState, (error) => console.warn(error));
  }
}

// The text, with @mentions of members highlighted (text nodes only: never HTML).
function messageText(message, item) {
  const span = el("span", { className: "text" });
  const usernames = new Set([...state.members.values()].map((m) => m.user.username.toLowerCase()));
  const pattern = /(^|[^\w@.+-])@([\w.@+-]+)/g;
  let last = 0;
  for (const match of message.text.matchAll(pattern)) {
    const name = match[2].replace(/\.+$/, "");
    if (!usernames.has(name.toLowerCase())) continue;
    const start = match.index + match[1].length;
    span.append(document.createTextNode(message.text.slice(last, start)));
    const mine = name.toLowerCase() === config.user.username.toLowerCase();
    span.append(el("span", { className: mine ? "mention me" : "mention", text: `@${name}` }));
    last = start + 1 + name.length;
  }
  span.append(document.createTextNode(message.text.slice(last)));
  if (mentionsMe(message.text) && message.author?.id !== me) item.classList.add("mentions-me");
  return span;
}

// Under my messages: "seen" (direct chat: on the newest one the other has read) or
// "read by N" (group).
function readReceipt(message, messages) {
  if (message.author?.id !== me || message.deleted_at) return null;
  const chat = state.chats.get(currentChatId);
  const others = [...state.markers.entries()].filter(([userId]) => userId !== me);
  if (chat?.kind === "direct") {
    const theirs = Math.max(0, ...others.map(([, id]) => id));
    const newestSeen = Math.max(0, ...messages.filter((m) => m.author?.id === me && m.id <= theirs).map((m) => m.id));
    return message.id === newestSeen ? el("span", { className: "receipt seen", text: "seen" }) : null;
  }
  const readers = others.filter(([, id]) => id >= message.id).length;
  return readers ? el("span", { className: "receipt", text: `read by ${readers}` }) : null;
}

function onlineDot(userId) {
  const online = state.online.has(userId);
  return el("span", {
    className: online ? "dot online" : "dot",
    attrs: { title: online ? "online: has this chat open" : "not here", "data-online": String(online) },
  });
}

function renderTyping() {
  const line = document.getElementById("typing");
  if (!line) return;
  const names = [...state.typing.values()].map((t) => t.username).sort();
  line.textContent = !names.length
    ? ""
    : names.length === 1
      ? `${names[0]} is typing…`
      : `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
}

function typingStarted(user) {
  clearTimeout(state.typing.get(user.id)?.timer);
  const timer = setTimeout(() => typingStopped(user.id), TYPING_SHOWN_MS);
  state.typing.set(user.id, { username: user.username, timer });
  renderTyping();
}

function typingStopped(userId) {
  const entry = state.typing.get(userId);
  if (!entry) return;
  clearTimeout(entry.timer);
  state.typing.delete(userId);
  renderTyping();
}

function startTypingSender() {
  const input = document.querySelector("#send-box input[name=text]");
  let lastSent = 0;
  input?.addEventListener("input", () => {
    if (!input.value.trim() || Date.now() - lastSent < TYPING_SEND_EVERY_MS) return;
    lastSent = Date.now();
    api(`chats/${currentChatId}/typing/`, { method: "POST" }).catch(() => {}); // ephemeral: no retry
  });
}

function startSearch() {
  const form = document.getElementById("search");
  const results = document.getElementById("search-results");
  if (!form || !results) return;
  let query = "";
  const show = (page, append) => {
    const items = page.results.map((hit) => {
      const item = el("li", { attrs: { "data-message-id": String(hit.id) } });
      const chat = state.chats.get(hit.chat_id);
      const link = el("a", { attrs: { href: `/chats/${hit.chat_id}/#message-${hit.id}` } });
      link.append(el("span", { className: "where", text: `${chat ? chatName(chat) : `chat #${hit.chat_id}`} · ${hit.author?.username || "?"}` }));
      const snippet = el("span", { className: "snippet" });
      // ts_headline marks matches with « »; each piece goes in as text.
      hit.headline.split(/(«[^»]*»)/).forEach((piece) => {
        if (piece.startsWith("«") && piece.endsWith("»")) snippet.append(el("mark", { text: piece.slice(1, -1) }));
        else if (piece) snippet.append(document.createTextNode(piece));
      });
      link.append(snippet);
      item.append(link);
      return item;
    });
    if (!append) results.replaceChildren();
    results.querySelector(".more")?.remove();
    results.append(...items);
    if (!append && !items.length) results.append(el("li", { className: "empty", text: "Nothing found." }));
    if (page.next) {
      const more = el("button", { className: "more", text: "more", attrs: { type: "button" } });
      more.addEventListener("click", () => search(page.next));
      results.append(more);
    }
  };
  const search = async (cursor) => {
    const params = new URLSearchParams({ q: query });
    if (cursor) params.set("cursor", cursor);
    show(await api(`search/?${params}`), Boolean(cursor));
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    query = new FormData(form).get("q").trim();
    if (!query) return results.replaceChildren();
    try {
      await search(null);
    } catch (error) {
      showError(error.message);
    }
  });
}

async function startNotificationSettings() {
  const form = document.getElementById("notification-settings");
  if (!form) return;
  const status = form.querySelector(".status");
  const fill = (prefs) => {
    form.elements.enabled.checked = prefs.enabled;
    form.elements.window_minutes.value = prefs.window_minutes;
  };
  try {
    fill(await api("notifications/settings/"));
  } catch (error) {
    console.warn(error);
  }
  // Changes are sent one at a time, each with the form as it is when sent: two quick changes
  // (a number field's blur, then a checkbox) never race each other on the server.
  let queue = Promise.resolve();
  let pending = 0;
  form.addEventListener("change", () => {
    status.textContent = "saving…";
    pending += 1;
    queue = queue.then(async () => {
      try {
        const saved = await api("notifications/settings/", {
          method: "PATCH",
          body: { enabled: form.elements.enabled.checked, window_minutes: Number(form.elements.window_minutes.value) },
        });
        if (pending === 1) {
          fill(saved);
          status.textContent = "saved";
        }
      } catch (error) {
        status.textContent = error.message;
      } finally {
        pending -= 1;
      }
    });
  });
  form.addEventListener("submit", (event) => event.preventDefault());
}

function startFeatures() {
  messaging = startMessaging({ config, state, api, el, chatName, mentionsMe, render: renderMessages, showError });
  Object.assign(handlers, messaging.handlers);
  document.addEventListener("visibilitychange", markReadSoon);
  window.addEventListener("focus", markReadSoon);
  startSearch();
  startNotificationSettings();
  startPush({ config, csrfToken }).catch((error) => console.warn(error));
  if (currentChatId === null) return;
  document.getElementById("messages").addEventListener("pointerdown", () => {
    listPressed = true;
  });
  // blur: a button released outside the window sends this page no pointerup.
  for (const end of ["pointerup", "pointercancel", "blur"]) {
    window.addEventListener(end, () => {
      listPressed = false;
      if (renderWaiting) {
        renderWaiting = false;
        setTimeout(renderMessages); // after the click this release completes
      }
    });
  }
  startAttachments({ config, chatId: currentChatId, csrfToken, showError });
  startTypingSender();
  const live = startLive({
    config,
    chatId: currentChatId,
    onTyping: typingStarted,
    onPresence: (userIds) => {
      state.online = userIds;
      renderMembers();
    },
  });
  window.addEventListener("pagehide", () => live.close());
}

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
  startFeatures();
  await startTransport(index, index);
}

start().catch((error) => showError(error.message));
