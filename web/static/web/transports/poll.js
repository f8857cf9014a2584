// Polling: GET /api/updates/?after=<cursor> every few seconds (`?interval=<s>`, default 2).
// Works through anything that passes plain HTTP, at the price of one request per interval
// per open page, events or not, and up to one interval of delay.

import { FeedCursor, loop } from "./feed.js";

export function connect({ onEvent, onState, onResync, lastEventId, onFail }) {
  const seconds = Number(new URLSearchParams(window.location.search).get("interval")) || 2;
  const feed = new FeedCursor({ onEvent, onResync, lastEventId });
  onState("connecting");
  return loop({ step: (signal) => feed.sync({ signal }), onState, onFail, pauseMs: seconds * 1000 });
}
