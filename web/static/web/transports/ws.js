// Centrifugo over WebSocket (centrifuge-js, served from web/static/web/vendor/).
//
// The page subscribes to its user's personal channel `personal:#<id>` (Centrifugo lets only
// the user named by the token's `sub` in: events naming the user, such as being added to a
// chat) and to the channel `chat:<id>` of every chat it lists, each with a subscription
// token that Django gives members only (`chatsChanged` follows the list). The namespaces
// keep a history and force recovery, so after a reconnect each subscription resumes from
// its last offset and the missed publications arrive first. When history cannot cover the
// gap (Centrifugo restarted with the memory engine, or the gap is older than the history),
// the `subscribed` event says `wasRecovering && !recovered`, and the page reloads its state
// through REST (`onResync`). A first subscribe always loads the state.

const { Centrifuge } = globalThis;

// Ask for a fresh token this long before the old one expires (Centrifugo also asks, via
// getToken, when it refuses an expired one).
async function fetchToken(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401 || response.status === 403) {
    // Signed out in another tab: stop, and let the user sign in again.
    window.location.assign(`/login/?next=${encodeURIComponent(window.location.pathname)}`);
    throw new Centrifuge.UnauthorizedError("signed out");
  }
  if (!response.ok) throw new Error(`token request failed: HTTP ${response.status}`);
  return (await response.json()).token;
}

// A chat's subscription token; not a member (any more): the subscription stops.
async function fetchSubscriptionToken(url, channel) {
  const response = await fetch(`${url}?channel=${encodeURIComponent(channel)}`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (response.status === 404 || response.status === 401 || response.status === 403) {
    throw new Centrifuge.UnauthorizedError(`no access to ${channel}`);
  }
  if (!response.ok) throw new Error(`subscription token request failed: HTTP ${response.status}`);
  return (await response.json()).token;
}

export function connect({ config, onEvent, onState, onResync }) {
  if (!Centrifuge) throw new Error("centrifuge.js is missing: run `make setup`");
  const centrifuge = new Centrifuge(config.ws_url, {
    getToken: () => fetchToken(config.urls.token),
    minReconnectDelay: 200,
    maxReconnectDelay: 10000,
  });
  centrifuge.on("connecting", () => onState("connecting"));
  centrifuge.on("connected", () => onState("connected"));
  centrifuge.on("disconnected", () => onState("disconnected"));

  const subscriptions = new Map(); // channel -> Subscription
  // One REST reload for a batch of (re)subscriptions that could not recover, once none of
  // them is still subscribing: after a reconnect every channel resubscribes at once.
  let resyncWanted = false;
  function resyncWhenSettled() {
    if (!resyncWanted) return;
    for (const subscription of subscriptions.values()) if (subscription.state === "subscribing") return;
    resyncWanted = false;
    onResync();
  }
  function subscribe(channel, options = {}) {
    const subscription = centrifuge.newSubscription(channel, { recoverable: true, positioned: true, ...options });
    subscription.on("publication", (ctx) => onEvent(ctx.data));
    subscription.on("subscribed", (ctx) => {
      if (!(ctx.wasRecovering && ctx.recovered)) resyncWanted = true;
      resyncWhenSettled();
    });
    subscription.on("unsubscribed", resyncWhenSettled);
    subscription.on("error", (ctx) => console.warn("subscription error", channel, ctx.error));
    subscription.subscribe();
    subscriptions.set(channel, subscription);
  }
  const transport = {
    // The chats the page lists: one subscription each, no more.
    chatsChanged(chatIds) {
      const wanted = new Set(chatIds.map((id) => `${config.chat_channel_prefix}${id}`));
      for (const [channel, subscription] of subscriptions) {
        if (channel === config.channel || wanted.has(channel)) continue;
        subscription.unsubscribe();
        centrifuge.removeSubscription(subscription);
        subscriptions.delete(channel);
      }
      for (const channel of wanted) {
        if (!subscriptions.has(channel)) {
          subscribe(channel, { getToken: () => fetchSubscriptionToken(config.urls.subscription_token, channel) });
        }
      }
    },
    close() {
      for (const subscription of subscriptions.values()) subscription.unsubscribe();
      centrifuge.disconnect();
    },
  };
  subscribe(config.channel);
  transport.chatsChanged(config.chat_ids); // the page's chats when it was rendered
  centrifuge.connect();
  return transport;
}
