// Web Push on this device: a checkbox in the notification settings registers the service
// worker (/sw.js, the whole site's scope), asks for permission, subscribes with the
// server's VAPID key and stores the subscription (POST /api/push/subscriptions/).
// `#push-settings[data-state]` says where it got: unsupported, off (server), ready,
// subscribed, denied, error.

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

export async function startPush({ config, csrfToken }) {
  const box = document.querySelector("details.settings");
  if (!box) return;
  const form = document.createElement("form");
  form.id = "push-settings";
  const label = document.createElement("label");
  const box_ = document.createElement("input");
  box_.type = "checkbox";
  box_.name = "push";
  label.append(box_, " Push notifications on this device, when no page is open");
  const status = document.createElement("span");
  status.className = "status";
  status.setAttribute("aria-live", "polite");
  form.append(label, status);
  box.append(form);
  form.addEventListener("submit", (event) => event.preventDefault());
  const show = (state, text) => {
    form.dataset.state = state;
    status.textContent = text;
  };
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    box_.disabled = true;
    return show("unsupported", "This browser has no Web Push.");
  }
  const api = config.urls.api;
  const send = (method, body) =>
    fetch(`${api}push/subscriptions/`, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
  let registration;
  try {
    registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    document.body.dataset.serviceWorker = "registered";
  } catch (error) {
    box_.disabled = true;
    return show("error", `The service worker did not register: ${error.message}`);
  }
  const server = await (await fetch(`${api}push/config/`, { credentials: "same-origin" })).json();
  if (!server.enabled) {
    box_.disabled = true;
    return show("off", "Push is not set up on this server.");
  }
  const existing = await registration.pushManager.getSubscription().catch(() => null);
  box_.checked = Boolean(existing) && Notification.permission === "granted";
  show(box_.checked ? "subscribed" : "ready", "");
  box_.addEventListener("change", async () => {
    if (!box_.checked) {
      const subscription = await registration.pushManager.getSubscription().catch(() => null);
      if (subscription) {
        await send("DELETE", { endpoint: subscription.endpoint });
        await subscription.unsubscribe();
      }
      return show("ready", "Off.");
    }
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      box_.checked = false;
      return show("denied", "Notifications are blocked for this site in the browser's settings.");
    }
    try {
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(server.public_key),
      });
      const response = await send("POST", subscription.toJSON());
      if (!response.ok) throw new Error((await response.json().catch(() => ({}))).message || `HTTP ${response.status}`);
      show("subscribed", "On.");
    } catch (error) {
      box_.checked = false;
      show("error", `Push is not available here: ${error.message}`);
    }
  });
}
