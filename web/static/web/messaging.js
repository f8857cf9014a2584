// Replies, reactions, edit history and desktop notifications on the chat page (issue 17).
//
// app.js hooks this in by a few calls: `decorate(item, message)` for every message it
// renders, `onEvent(envelope)` after every event it applies, `handlers` merged into its
// own (reaction.changed), and `replyFields()` / `replySent()` around the send box.
// User text only ever reaches the DOM through textContent.

const QUICK_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢"];
const ASKED_KEY = "messenger.notifications.asked"; // the browser's permission is asked once
const FLASH_MS = 2000;

export function startMessaging({ config, state, api, el, chatName, mentionsMe, render, showError }) {
  const me = config.user.id;
  const currentChatId = config.chat_id;
  const mine = new Map(); // message id -> Set of my emoji (what this page knows of)
  const versions = new Map(); // message id -> {editedAt, list} of an opened edit history
  let replyTarget = null; // the message the send box answers
  let pickerOpenFor = null; // the message whose emoji picker is open: a re-render keeps it open
  let desktop = { enabled: true }; // the user's setting (REST), until loaded
  let jumpTarget = Number((window.location.hash.match(/^#message-(\d+)$/) || [])[1]) || null;

  // ------------------------------------------------------------ replies

  function quote(message) {
    // The original as it is now when this page holds it (deleted or edited since), else as
    // the server computed it when the reply was read.
    const live = state.messages.get(message.reply_to.id);
    const deleted = live ? Boolean(live.deleted_at) : message.reply_to.deleted;
    const author = (live ? live.author : message.reply_to.author)?.username || "(deleted user)";
    const text = live ? live.text : message.reply_to.text;
    const box = el("blockquote", {
      className: deleted ? "quote deleted" : "quote",
      attrs: { "data-reply-to": String(message.reply_to.id), title: "Show the original" },
    });
    box.append(el("span", { className: "quote-author", text: author }));
    box.append(el("span", { className: "quote-text", text: deleted ? "deleted message" : text }));
    box.addEventListener("click", () => jumpTo(message.reply_to.id));
    return box;
  }

  async function jumpTo(messageId) {
    if (!state.messages.has(messageId) && currentChatId !== null) {
      // Older than what the page holds: load the page that starts with it.
      try {
        const page = await api(`chats/${currentChatId}/messages/?after=${messageId - 1}&limit=50`);
        for (const message of page.results) state.messages.set(message.id, message);
        render();
      } catch (error) {
        showError(error.message);
        return;
      }
    }
    const item = document.querySelector(`#messages li[data-message-id='${messageId}']`);
    if (!item) return;
    item.scrollIntoView({ block: "center" });
    item.classList.add("flash");
    setTimeout(() => item.classList.remove("flash"), FLASH_MS);
  }

  function replyBar() {
    let bar = document.getElementById("reply-bar");
    const sendBox = document.getElementById("send-box");
    if (!bar && sendBox) {
      bar = el("div", { className: "reply-bar", attrs: { id: "reply-bar" } });
      sendBox.before(bar);
    }
    return bar;
  }

  function setReplyTarget(message) {
    replyTarget = message;
    const bar = replyBar();
    if (!bar) return;
    bar.hidden = !message;
    bar.replaceChildren();
    if (!message) return;
    bar.append(el("span", { text: `Replying to ${message.author?.username || "(deleted user)"}: ` }));
    bar.append(el("span", { className: "quote-text", text: message.text }));
    const cancel = el("button", { text: "×", attrs: { type: "button", title: "Cancel the reply" } });
    cancel.addEventListener("click", () => setReplyTarget(null));
    bar.append(cancel);
    document.querySelector("#send-box input[name=text]")?.focus();
  }

  // ------------------------------------------------------------ reactions

  function mineOf(messageId) {
    if (!mine.has(messageId)) mine.set(messageId, new Set());
    return mine.get(messageId);
  }

  async function toggle(message, emoji) {
    try {
      const result = await api(`chats/${message.chat_id}/messages/${message.id}/reactions/`, {
        method: "POST",
        body: { emoji },
      });
      applyReaction(result);
    } catch (error) {
      showError(error.message);
    }
  }

  function applyReaction(data) {
    const message = state.messages.get(data.message_id);
    if (data.user_id === me) {
      if (data.added) mineOf(data.message_id).add(data.emoji);
      else mineOf(data.message_id).delete(data.emoji);
    }
    if (!message) return;
    message.reactions = data.reactions;
    render();
  }

  async function whoReacted(message, emoji, button) {
    try {
      const params = new URLSearchParams({ emoji, limit: "50" });
      const page = await api(`chats/${message.chat_id}/messages/${message.id}/reactions/?${params}`);
      const names = page.results.map((r) => r.user?.username || "(deleted user)");
      const who = names.join(", ") + (page.next_offset !== null ? " and more" : "");
      button.title = who;
      button.dataset.who = who;
    } catch (error) {
      console.warn(error);
    }
  }

  // Which of the shown reactions are mine: asked once per message, in batches.
  const asked = new Set();
  let pendingMine = [];
  function learnMine(message) {
    if (asked.has(message.id) || !Object.keys(message.reactions || {}).length) return;
    asked.add(message.id);
    pendingMine.push(message.id);
    if (pendingMine.length === 1) setTimeout(fetchMine, 0);
  }

  async function fetchMine() {
    const ids = pendingMine.splice(0, 200);
    if (pendingMine.length) setTimeout(fetchMine, 0);
    const params = new URLSearchParams(ids.map((id) => ["message_id", String(id)]));
    try {
      const page = await api(`chats/${currentChatId}/reactions/mine/?${params}`);
      for (const { message_id: id, emoji } of page.results) mineOf(id).add(emoji);
      if (page.results.length) render();
    } catch (error) {
      console.warn(error);
    }
  }

  function reactionBar(message) {
    learnMine(message);
    const bar = el("span", { className: "reactions" });
    for (const [emoji, count] of Object.entries(message.reactions || {})) {
      const button = el("button", {
        className: mineOf(message.id).has(emoji) ? "reaction mine" : "reaction",
        text: `${emoji} ${count}`,
        attrs: { type: "button", "data-emoji": emoji },
      });
      button.addEventListener("click", () => toggle(message, emoji));
      button.addEventListener("mouseenter", () => whoReacted(message, emoji, button), { once: true });
      bar.append(button);
    }
    const add = el("details", { className: "react" });
    add.open = pickerOpenFor === message.id;
    add.addEventListener("toggle", () => {
      if (add.open) pickerOpenFor = message.id;
      else if (pickerOpenFor === message.id) pickerOpenFor = null;
    });
    add.append(el("summary", { text: "☺+", attrs: { title: "React" } }));
    for (const emoji of QUICK_EMOJI) {
      const pick = el("button", { text: emoji, attrs: { type: "button", "data-emoji": emoji } });
      pick.addEventListener("click", () => {
        pickerOpenFor = null; // before toggle() renders again
        add.open = false;
        toggle(message, emoji);
      });
      add.append(pick);
    }
    bar.append(add);
    return bar;
  }

  // ------------------------------------------------------------ edit history

  async function showVersions(message) {
    try {
      const page = await api(`chats/${message.chat_id}/messages/${message.id}/edits/`);
      versions.set(message.id, { editedAt: message.edited_at, list: page.results });
      render();
    } catch (error) {
      showError(error.message);
    }
  }

  function versionList(message) {
    const opened = versions.get(message.id);
    if (!opened) return null;
    if (opened.editedAt !== message.edited_at) {
      showVersions(message); // edited again while open: reload
    }
    const list = el("ol", { className: "versions", attrs: { title: "Earlier versions, oldest first" } });
    for (const version of opened.list) {
      const item = el("li");
      item.append(el("time", { text: new Date(version.written_at).toLocaleString(), attrs: { datetime: version.written_at } }));
      item.append(el("span", { className: "version-text", text: version.text }));
      list.append(item);
    }
    return list;
  }

  // ------------------------------------------------------------ the hooks

  function decorate(item, message) {
    if (message.reply_to) item.prepend(quote(message));
    if (!message.deleted_at) {
      const edited = item.querySelector(".edited");
      if (edited) {
        edited.classList.add("clickable");
        edited.title = "Show earlier versions";
        edited.addEventListener("click", () =>
          versions.has(message.id) ? (versions.delete(message.id), render()) : showVersions(message),
        );
        const list = versionList(message);
        if (list) item.append(list);
      }
      item.append(reactionBar(message));
      const reply = el("button", { className: "reply", text: "reply", attrs: { type: "button" } });
      reply.addEventListener("click", () => setReplyTarget(message));
      item.append(reply);
    }
    if (jumpTarget === message.id) {
      jumpTarget = null;
      setTimeout(() => jumpTo(message.id), 0);
    }
  }

  // An announcement chat: a plain member's send box is off (the server refuses with 403).
  function chatRendered(chat) {
    const form = document.getElementById("send-box");
    if (!form || !chat || state.chatGone) return;
    const muted = Boolean(chat.announcement) && state.members.get(me)?.role === "member";
    for (const control of form.elements) control.disabled = muted;
    form.elements.text.placeholder = muted ? "Only the owner and admins post in this announcement chat" : "Write a message";
  }

  function onEvent(envelope) {
    if (envelope.type === "member.updated" && envelope.data.user.id === me) chatRendered(state.chats.get(currentChatId));
    if (envelope.type === "message.created") notifyDesktop(envelope.data);
    if (envelope.type === "message.deleted" && replyTarget?.id === envelope.data.id) setReplyTarget(null);
    if (envelope.type === "message.updated" || envelope.type === "message.deleted") requote(envelope.data);
  }

  // Replies whose original this page does not hold still follow its edit or deletion.
  function requote(original) {
    let changed = false;
    for (const message of state.messages.values()) {
      if (message.reply_to?.id !== original.id) continue;
      const deleted = Boolean(original.deleted_at);
      message.reply_to = { ...message.reply_to, deleted, text: deleted ? "" : original.text.slice(0, 200) };
      changed = true;
    }
    if (changed) render();
  }

  const handlers = {
    "reaction.changed"(data, envelope) {
      if (envelope.chat_id === currentChatId) applyReaction(data);
    },
  };

  // ------------------------------------------------------------ desktop notifications

  function canNotify() {
    return "Notification" in window && Notification.permission === "granted" && desktop.enabled;
  }

  function notifyDesktop(message) {
    if (message.author?.id === me || !document.hidden || !canNotify()) return;
    const chat = state.chats.get(message.chat_id);
    if (!chat || !(chat.kind === "direct" || mentionsMe(message.text))) return;
    const notification = new Notification(chatName(chat), {
      body: `${message.author?.username || "?"}: ${message.text}`.slice(0, 200),
      tag: `message-${message.id}`, // one per message, however many tabs are hidden
    });
    notification.onclick = () => {
      window.focus();
      notification.close();
      if (message.chat_id === currentChatId) jumpTo(message.id);
      else window.location.assign(`/chats/${message.chat_id}/#message-${message.id}`);
    };
  }

  function askPermissionOnce() {
    if (!("Notification" in window) || Notification.permission !== "default") return;
    if (window.localStorage.getItem(ASKED_KEY)) return;
    // Browsers grant the prompt only from a user's gesture: the first click on the page.
    document.addEventListener(
      "click",
      () => {
        window.localStorage.setItem(ASKED_KEY, "1");
        Notification.requestPermission().catch(() => {});
      },
      { once: true },
    );
  }

  async function startDesktopSettings() {
    const form = document.getElementById("desktop-settings");
    try {
      desktop = await api("notifications/desktop/");
    } catch (error) {
      console.warn(error);
    }
    if (!form) return;
    const status = form.querySelector(".status");
    form.elements.enabled.checked = desktop.enabled;
    form.addEventListener("submit", (event) => event.preventDefault());
    form.addEventListener("change", async () => {
      status.textContent = "saving…";
      try {
        desktop = await api("notifications/desktop/", { method: "PATCH", body: { enabled: form.elements.enabled.checked } });
        form.elements.enabled.checked = desktop.enabled;
        status.textContent = "saved";
        if (desktop.enabled && "Notification" in window && Notification.permission === "default") {
          window.localStorage.setItem(ASKED_KEY, "1");
          Notification.requestPermission().catch(() => {});
        }
      } catch (error) {
        status.textContent = error.message;
      }
    });
  }

  // ------------------------------------------------------------ member search (rooms of 10,000)

  function startMemberSearch() {
    const list = document.getElementById("members");
    if (!list || currentChatId === null) return;
    const form = el("form", { className: "row", attrs: { id: "member-search", role: "search" } });
    const input = el("input", {
      attrs: { name: "q", type: "search", placeholder: "Find a member", maxlength: "150", "aria-label": "Find a member" },
    });
    form.append(input, el("button", { text: "Find", attrs: { type: "submit" } }));
    const results = el("ul", { className: "member-results", attrs: { id: "member-search-results", "aria-live": "polite" } });
    list.before(form, results);
    let next = null;
    const show = (page, append) => {
      if (!append) results.replaceChildren();
      results.querySelector(".more")?.remove();
      for (const m of page.results) {
        const item = el("li", { attrs: { "data-user-id": String(m.user.id) } });
        item.append(el("span", { text: m.user.username }), el("span", { className: "role", text: m.role }));
        results.append(item);
      }
      if (!append && !page.results.length) results.append(el("li", { className: "empty", text: "Nobody found." }));
      next = page.next_offset;
      if (next !== null) {
        const more = el("button", { className: "more", text: "more", attrs: { type: "button" } });
        more.addEventListener("click", () => search(true));
        results.append(more);
      }
    };
    const search = async (append) => {
      const params = new URLSearchParams({ q: input.value.trim(), limit: "50", offset: append ? String(next) : "0" });
      try {
        show(await api(`chats/${currentChatId}/members/?${params}`), append);
      } catch (error) {
        showError(error.message);
      }
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!input.value.trim()) return results.replaceChildren();
      search(false);
    });
  }

  askPermissionOnce();
  startDesktopSettings();
  startMemberSearch();

  return {
    handlers,
    decorate,
    onEvent,
    chatRendered,
    replyFields: () => (replyTarget ? { reply_to: replyTarget.id } : {}),
    replySent: () => setReplyTarget(null),
  };
}
