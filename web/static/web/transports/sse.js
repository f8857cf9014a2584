// Server-sent events: one EventSource on /api/updates/stream/. Each event's `id:` is its
// cursor, so when the stream breaks the browser reconnects by itself with `Last-Event-ID`
// and the server resumes after it. The browser gives up only when the server answers with
// an error (401, 410, 5xx): then one plain poll tells a 410 (reload the state, start from
// the head) from an outage, and after three such failures in a row the page falls back.

import { FeedCursor, sleep } from "./feed.js";

const STREAM_URL = "/api/updates/stream/";

export function connect({ onEvent, onState, onResync, lastEventId, onFail }) {
  const feed = new FeedCursor({ onEvent, onResync, lastEventId });
  let source = null;
  let stopped = false;
  let failures = 0;

  async function open() {
    onState("connecting");
    while (!stopped && feed.cursor === null) {
      try {
        await feed.sync();
      } catch (error) {
        if (++failures >= 3) return onFail?.(error.message);
        await sleep(Math.min(500 * 2 ** failures, 10000));
      }
    }
    if (stopped) return;
    source = new EventSource(`${STREAM_URL}?after=${feed.cursor}`);
    source.onopen = () => {
      failures = 0;
      onState("connected");
    };
    source.onmessage = (message) => {
      const envelope = JSON.parse(message.data);
      feed.cursor = envelope.id;
      onEvent(envelope);
    };
    source.onerror = async () => {
      if (source.readyState !== EventSource.CLOSED) {
        onState("connecting"); // the browser retries with Last-Event-ID
        return;
      }
      onState("disconnected");
      source = null;
      if (++failures >= 3) return onFail?.("the event stream keeps failing");
      try {
        await feed.fetch(); // a 410 resets the cursor and reloads the state
      } catch {
        // an outage: try the stream again after a pause
      }
      await sleep(Math.min(500 * 2 ** failures, 10000));
      if (!stopped) open();
    };
  }

  open();
  return {
    close() {
      stopped = true;
      source?.close();
    },
  };
}
