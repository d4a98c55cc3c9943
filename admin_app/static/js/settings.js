// Settings: plain forms (they work without this script); it asks before a form marked
// data-confirm deletes something, and keeps the nav's count of conversations waiting for a
// human live, as every other page does. With AUTO_ASSIGN, the Accounts table's Available /
// Away toggles work and follow every change live through common.js (connectLive), as the
// top bar's does; the Last seen column follows accounts coming online and going offline.
import { api, connectLive, loadWaitingCount, setWaitingCount } from "./common.js";

document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

/**
 * The Accounts table's Last seen column follows `account.online`: "online" as an account
 * opens a page of the panel, and the time it was last seen once the sweep says it went
 * offline (as rendered: UTC, to the minute).
 */
function showLastSeen({ user_id: userId, online, last_seen_at: lastSeen }) {
  const cell = document.querySelector(`td.last-seen[data-user="${Number(userId)}"]`);
  if (!cell) return;
  if (online) {
    const badge = document.createElement("span");
    badge.className = "status-badge status-active";
    badge.textContent = "online";
    cell.replaceChildren(badge);
  } else if (typeof lastSeen === "string") {
    const time = document.createElement("time");
    time.dateTime = lastSeen;
    time.textContent = new Date(lastSeen).toISOString().slice(0, 16).replace("T", " ");
    cell.replaceChildren(time);
  }
}

/** After a reconnect: what the Last seen column missed meanwhile, read again. */
async function syncLastSeen() {
  if (!document.querySelector("td.last-seen")) return; // not an admin's page
  try {
    for (const u of (await api("/admin/users")).users) {
      showLastSeen({ user_id: u.id, online: u.online, last_seen_at: u.last_seen_at });
    }
  } catch {
    /* the column keeps what it shows; the next event or reconnect says more */
  }
}

connectLive(
  {
    "stats.updated": ({ stats }) => setWaitingCount(stats.conversations_needing_human),
    "account.online": showLastSeen,
  },
  { onSync: () => Promise.all([loadWaitingCount(), syncLastSeen()]) }, // on a reconnect
);
await loadWaitingCount();
document.body.dataset.ready = "settings";
