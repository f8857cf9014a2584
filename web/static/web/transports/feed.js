// The event feed behind SSE, long polling and polling: GET /api/updates/ with a cursor.
//
// The cursor is an event id. A transport starts from the highest event id the page has
// applied (after a fallback from another transport nothing is reloaded); with none, it
// takes the feed's head first and then has the page load its state through REST, so an
// event committed during that load is either in the load or after the cursor. A 410 (the
// cursor is older than the event log keeps) starts over the same way.

export const UPDATES_URL = "/api/updates/";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class FeedCursor {
  constructor({ onEvent, onResync, lastEventId }) {
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.cursor = lastEventId();
  }

  // One request: the head (then a REST reload) without a cursor, the events after it with one.
  async sync({ signal } = {}) {
    if (this.cursor === null) {
      const page = await this.#get("", signal);
      this.cursor = page.cursor;
      this.onResync();
      return;
    }
    await this.fetch({ signal });
  }

  // The events after the cursor; with `wait` (seconds) a long poll.
  async fetch({ wait = 0, signal } = {}) {
    const page = await this.#get(`?after=${this.cursor}${wait ? `&wait=${wait}` : ""}`, signal);
    if (page === null) return this.sync({ signal }); // 410: start over from the head
    for (const envelope of page.events) this.onEvent(envelope);
    this.cursor = page.cursor;
  }

  async #get(query, signal) {
    const response = await fetch(`${UPDATES_URL}${query}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal,
    });
    if (response.status === 401 || response.status === 403) {
      window.location.assign(`/login/?next=${encodeURIComponent(window.location.pathname)}`);
      throw new Error("signed out");
    }
    if (response.status === 410) {
      this.cursor = null;
      return null;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }
}

// Runs `step` again and again; failures back off, and after `failLimit` in a row the page
// is told (`onFail`) so that it can fall back to the next transport.
export function loop({ step, onState, onFail, failLimit = 3, pauseMs = 0 }) {
  const controller = new AbortController();
  let stopped = false;
  (async () => {
    let failures = 0;
    while (!stopped) {
      try {
        await step(controller.signal);
        failures = 0;
        onState("connected");
        if (pauseMs) await sleep(pauseMs);
      } catch (error) {
        if (stopped) return;
        failures += 1;
        onState("disconnected");
        if (failures >= failLimit && onFail) {
          onFail(error.message);
          return;
        }
        await sleep(Math.min(500 * 2 ** failures, 10000));
      }
    }
  })();
  return {
    close() {
      stopped = true;
      controller.abort();
    },
  };
}
