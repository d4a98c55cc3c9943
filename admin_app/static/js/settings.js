// Settings: plain forms (they work without this script); it asks before a form marked
// data-confirm deletes something, and keeps the nav's count of conversations waiting for a
// human live, as every other page does. With AUTO_ASSIGN, the Accounts table's Available /
// Away toggles work and follow every change live through common.js (connectLive), as the
// top bar's does.
import { connectLive, loadWaitingCount, setWaitingCount } from "./common.js";

document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

connectLive(
  { "stats.updated": ({ stats }) => setWaitingCount(stats.conversations_needing_human) },
  { onSync: () => loadWaitingCount() }, // on a reconnect
);
await loadWaitingCount();
document.body.dataset.ready = "settings";
