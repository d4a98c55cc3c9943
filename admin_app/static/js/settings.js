// Settings: plain forms (they work without this script); it keeps the nav's count of
// conversations waiting for a human live, as every other page does.
import { connectLive, loadWaitingCount, setWaitingCount } from "./common.js";

connectLive(
  { "stats.updated": ({ stats }) => setWaitingCount(stats.conversations_needing_human) },
  { onSync: () => loadWaitingCount() }, // on a reconnect
);
await loadWaitingCount();
document.body.dataset.ready = "settings";
