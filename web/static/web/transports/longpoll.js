// Long polling: GET /api/updates/?after=<cursor>&wait=25. The server answers as soon as an
// event arrives, or with no events after 25 s (below the 30-60 s after which proxies and
// home routers drop an idle connection); the page asks again at once.

import { FeedCursor, loop } from "./feed.js";

const WAIT_SECONDS = 25;

export function connect({ onEvent, onState, onResync, lastEventId, onFail }) {
  const feed = new FeedCursor({ onEvent, onResync, lastEventId });
  let synced = false;
  onState("connecting");
  return loop({
    async step(signal) {
      if (!synced) {
        await feed.sync({ signal }); // a quick first answer: "connected" is not 25 s late
        synced = true;
        return;
      }
      await feed.fetch({ wait: WAIT_SECONDS, signal });
    },
    onState,
    onFail,
  });
}
