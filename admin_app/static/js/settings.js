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

// -- the business hours' week editor ---------------------------------------------------------
// A day per row (open or not, from, to, and "and" a second range after a break) that writes
// the Weekly hours text, which stays the form's field and what the server checks:
// "mon-fri 09:00-12:00, 13:00-18:00; sat 10:00-14:00", days in a row with the same hours
// named as a range. The text typed is read back into the rows; a schedule the rows cannot
// show (three ranges on a day, JSON, a mistake) is kept as text, and the note says so. Two
// ranges that overlap are shown as they are: the server says what is wrong when they are
// saved. A closing time of 00:00 is midnight (24:00 in the text).
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const weekEditor = document.getElementById("week-editor");
const scheduleBox = document.querySelector("#hours-form textarea[name=schedule]");

function dayIndex(name) {
  const at = Math.max(DAYS.indexOf(name), FULL.indexOf(name));
  if (at < 0) throw new Error(name);
  return at;
}
function clock(text) {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!match || Number(match[2]) > 59 || Number(match[1]) > 24) throw new Error(text);
  return `${match[1].padStart(2, "0")}:${match[2]}`;
}

/** The week in the text: seven lists of one or two [from, to], or null (closed); throws for
 * what it cannot show. */
function parseWeek(text) {
  const week = Array(7).fill(null);
  const named = new Set();
  for (const entry of text.split(";").map((e) => e.trim()).filter(Boolean)) {
    const match = /^([a-z]+)(?:\s*-\s*([a-z]+))?\s+(.+)$/i.exec(entry);
    if (!match) throw new Error(entry);
    const first = dayIndex(match[1].toLowerCase());
    const last = match[2] ? dayIndex(match[2].toLowerCase()) : first;
    const value = match[3].trim();
    let hours = null;
    if (value.toLowerCase() !== "closed") {
      const ranges = value.split(",");
      if (ranges.length > 2) throw new Error("more than two ranges");
      hours = ranges.map((range) => {
        const [from, to, ...rest] = range.split("-");
        if (to === undefined || rest.length) throw new Error(value);
        const hour = [clock(from), clock(to)];
        if (hour[1] !== "24:00" && hour[1] <= hour[0]) throw new Error(value);
        return hour;
      });
    }
    for (let i = 0; i <= (last - first + 7) % 7; i += 1) {
      const day = (first + i) % 7;
      if (named.has(day)) throw new Error("a day named twice");
      named.add(day);
      week[day] = hours;
    }
  }
  return week;
}

/** The text for the week: consecutive days with the same hours as one range of days. */
function formatWeek(week) {
  const parts = [];
  for (let i = 0; i < 7;) {
    let j = i;
    while (j + 1 < 7 && String(week[j + 1]) === String(week[i])) j += 1;
    if (week[i]) {
      const days = i === j ? DAYS[i] : `${DAYS[i]}-${DAYS[j]}`;
      parts.push(`${days} ${week[i].map((range) => range.join("-")).join(", ")}`);
    }
    i = j + 1;
  }
  return parts.join("; ");
}

function weekRows() {
  return DAYS.map((day) => weekEditor.querySelector(`.week-day[data-day="${day}"]`));
}
function showWeek() {
  const note = document.getElementById("week-note");
  let week;
  try {
    week = parseWeek(scheduleBox.value);
  } catch {
    weekEditor.disabled = true;
    note.textContent = "These hours are more than the days above can show (three ranges on a "
      + "day, JSON, or a mistake): change them as text below.";
    return;
  }
  weekEditor.disabled = false;
  const shown = (to) => (to === "24:00" ? "00:00" : to);
  weekRows().forEach((row, day) => {
    const hours = week[day];
    const part = (name) => row.querySelector(`[data-part=${name}]`);
    part("open").checked = Boolean(hours);
    part("again").checked = Boolean(hours && hours.length > 1);
    if (hours) {
      part("from").value = hours[0][0];
      part("to").value = shown(hours[0][1]);
    }
    if (hours && hours.length > 1) {
      part("from2").value = hours[1][0];
      part("to2").value = shown(hours[1][1]);
    }
    part("again").disabled = !hours;
    part("from").disabled = part("to").disabled = !hours;
    part("from2").disabled = part("to2").disabled = !(hours && hours.length > 1);
  });
  note.textContent = week.some(Boolean) ? "" : "No day ticked: always open.";
}
function writeWeek() {
  const week = weekRows().map((row) => {
    const part = (name) => row.querySelector(`[data-part=${name}]`);
    if (!part("open").checked) return null;
    const range = (from, to) => {
      const end = part(to).value || "00:00";
      return [part(from).value || "00:00", end === "00:00" ? "24:00" : end];
    };
    return part("again").checked ? [range("from", "to"), range("from2", "to2")]
      : [range("from", "to")];
  });
  scheduleBox.value = formatWeek(week);
  showWeek();
}
if (weekEditor && scheduleBox) {
  weekEditor.hidden = false;
  showWeek();
  weekEditor.addEventListener("change", writeWeek);
  scheduleBox.addEventListener("input", showWeek);
}
document.body.dataset.ready = "settings";
