// Centrifugo over WebSocket (centrifuge-js, served from web/static/web/vendor/).
//
// The page subscribes to its user's personal channel `personal:#<id>`: Centrifugo lets only
// the user named by the token's `sub` in. The namespace keeps a history and forces
// recovery, so after a reconnect the subscription resumes from its last offset and the
// missed publications arrive first. When history cannot cover the gap (Centrifugo
// restarted with the memory engine, or the gap is older than the history), the
// `subscribed` event says `wasRecovering && !recovered`, and the page reloads its state
// through REST (`onResync`). The first subscribe always loads the state.

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

  const subscription = centrifuge.newSubscription(config.channel, { recoverable: true, positioned: true });
  subscription.on("publication", (ctx) => onEvent(ctx.data));
  subscription.on("subscribed", (ctx) => {
    if (!(ctx.wasRecovering && ctx.recovered)) onResync();
  });
  subscription.on("error", (ctx) => console.warn("subscription error", ctx.error));
  subscription.subscribe();
  centrifuge.connect();

  return {
    close() {
      subscription.unsubscribe();
      centrifuge.disconnect();
    },
  };
}
