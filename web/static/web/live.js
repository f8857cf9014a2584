// Typing and presence of the chat page's viewers, straight from Centrifugo (never stored).
//
// The page subscribes to `typing:<chat id>` with a subscription token from
// `/api/realtime/subscription-token/?channel=typing:<id>` (members only). Publications
// there are `{type: "typing", chat_id, user}`; presence and join/leave there say who else
// has the chat open. It uses a
// Centrifugo connection of its own, so typing and presence work on every transport of the
// event feed (SSE, long polling, polling as well as WebSocket).

const { Centrifuge } = globalThis;

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401 || response.status === 403) throw new Centrifuge.UnauthorizedError("signed out");
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

// `onTyping(user)` for every typing signal of another user; `onPresence(userIds)` with the
// set of user ids viewing the chat whenever it changes.
export function startLive({ config, chatId, onTyping, onPresence }) {
  if (!Centrifuge || chatId === null) return { close() {} };
  const centrifuge = new Centrifuge(config.ws_url, {
    getToken: async () => (await getJson(config.urls.token)).token,
    minReconnectDelay: 200,
    maxReconnectDelay: 5000,
  });
  const clients = new Map(); // client id -> user id (a user may have several tabs)
  const publish = () => onPresence(new Set(clients.values()));
  const subscription = centrifuge.newSubscription(`typing:${chatId}`, {
    getToken: async () =>
      (await getJson(`${config.urls.api}realtime/subscription-token/?channel=typing:${chatId}`)).token,
    joinLeave: true,
  });
  subscription.on("publication", (ctx) => {
    const data = ctx.data;
    if (data?.type === "typing" && data.user && data.user.id !== config.user.id) onTyping(data.user);
  });
  subscription.on("subscribed", async () => {
    try {
      const result = await subscription.presence();
      clients.clear();
      for (const [client, info] of Object.entries(result.clients || {})) clients.set(client, Number(info.user));
      publish();
    } catch (error) {
      console.warn("presence failed", error);
    }
  });
  subscription.on("join", (ctx) => {
    clients.set(ctx.info.client, Number(ctx.info.user));
    publish();
  });
  subscription.on("leave", (ctx) => {
    clients.delete(ctx.info.client);
    publish();
  });
  subscription.on("unsubscribed", () => {
    clients.clear();
    publish();
  });
  centrifuge.on("disconnected", () => {
    clients.clear();
    publish();
  });
  subscription.subscribe();
  centrifuge.connect();
  return {
    close() {
      subscription.unsubscribe();
      centrifuge.disconnect();
    },
  };
}
