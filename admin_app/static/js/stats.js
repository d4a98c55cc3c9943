// Stats: cards, the per-platform table, the team's tags, the charts (24 hours, 30 days), and
// for a period (one choice for both) the team's table and the people's satisfaction, live.
import {
  api, clockTime, connectLive, duration, el, loadUsers, personName, setWaitingCount, toast,
} from "./common.js";

const cards = document.getElementById("cards");
const platformRows = document.querySelector("#platforms tbody");
const stamp = document.getElementById("stats-time");

const pct = (x) => `${(100 * (x || 0)).toFixed(1)} %`;
const count = (n) => (n || 0).toLocaleString();
const plural = (n, one, many) => `${count(n)} ${n === 1 ? one : many}`;
// key, label, value, [alert when], [hint: what the figure counts, so two rates that look
// alike can be told apart]
const CARDS = [
  { key: "total_conversations", label: "Conversations", value: (s) => count(s.total_conversations) },
  { key: "active_conversations", label: "Active conversations", value: (s) => count(s.active_conversations) },
  { key: "total_messages", label: "Messages", value: (s) => count(s.total_messages) },
  { key: "messages_requiring_human", label: "Messages needing a human",
    value: (s) => count(s.messages_requiring_human), alert: (s) => s.messages_requiring_human > 0,
    hint: () => "flagged and not yet answered" },
  { key: "conversations_needing_human", label: "Waiting for a human now",
    value: (s) => count(s.conversations_needing_human), alert: (s) => s.conversations_needing_human > 0,
    hint: () => "conversations" },
  { key: "escalation_rate", label: "Escalation rate", value: (s) => pct(s.escalation_rate),
    hint: (s) => `${plural(s.escalated_conversations, "conversation", "conversations")} flagged for a human` },
  { key: "handoff_rate", label: "Handoff rate", value: (s) => pct(s.handoff_rate),
    hint: (s) => `${plural(s.handed_to_human_conversations, "conversation", "conversations")} a person took part in` },
  { key: "bot_resolved_rate", label: "Resolved by the bot", value: (s) => pct(s.bot_resolved_rate),
    hint: (s) => `${plural(s.bot_resolved_conversations, "closed conversation", "closed conversations")} with no person` },
  { key: "avg_messages_per_conversation", label: "Messages per conversation",
    value: (s) => (s.avg_messages_per_conversation || 0).toFixed(1) },
  { key: "avg_first_human_response_seconds", label: "First human reply (avg)",
    value: (s) => duration(s.avg_first_human_response_seconds), hint: () => "from the escalation" },
  { key: "median_first_human_response_seconds", label: "First human reply (median)",
    value: (s) => duration(s.median_first_human_response_seconds), hint: () => "from the escalation" },
];

function renderCards(s) {
  cards.replaceChildren(...CARDS.map(({ key, label, value, alert, hint }) =>
    el("div", { className: "stat-card" + (alert && alert(s) ? " alert" : ""), dataset: { key } },
      el("div", { className: "label", text: label }),
      el("div", { className: "value", text: value(s) }),
      hint ? el("div", { className: "hint", text: hint(s) }) : null)));
}

function renderPlatforms(s) {
  const names = { messenger: "Messenger", webchat: "Web chat" };
  platformRows.replaceChildren(...Object.entries(s.by_platform).map(([platform, p]) =>
    el("tr", {},
      el("td", { text: names[platform] || platform }),
      el("td", { text: p.conversations.toLocaleString() }),
      el("td", { text: p.active_conversations.toLocaleString() }),
      el("td", { text: p.messages.toLocaleString() }))));
}

const charts = {}; // canvas id -> Chart

function barChart(id, labels, messages, escalations) {
  if (typeof window.Chart !== "function") return;
  const chart = charts[id];
  if (chart) {
    chart.data.labels = labels;
    chart.data.datasets[0].data = messages;
    chart.data.datasets[1].data = escalations;
    chart.update("none");
    return;
  }
  charts[id] = new window.Chart(document.getElementById(id), {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "Messages", data: messages, backgroundColor: "#5b7cfa", borderRadius: 3 },
        { label: "Escalations", data: escalations, backgroundColor: "#e0525e", borderRadius: 3 },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 12 } } },
      plugins: { legend: { position: "bottom" } },
    },
  });
  window.__statsCharts = charts; // for the browser tests
}

function renderCharts(s) {
  const hours = s.messages_per_hour;
  barChart("chart-hourly",
    hours.map((b) => new Date(b.hour).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
    hours.map((b) => b.messages), hours.map((b) => b.escalations));
  const days = s.messages_per_day || [];
  barChart("chart-daily",
    days.map((b) => new Date(b.day).toLocaleDateString([], { month: "short", day: "numeric", timeZone: "UTC" })),
    days.map((b) => b.messages), days.map((b) => b.escalations));
}

function render(s) {
  renderCards(s);
  renderPlatforms(s);
  renderCharts(s);
  setWaitingCount(s.conversations_needing_human);
  stamp.dateTime = s.timestamp;
  stamp.textContent = new Date(s.timestamp).toLocaleTimeString();
}

async function load() {
  try {
    render((await api("/admin/stats")).stats);
  } catch (err) {
    toast("Could not load the stats", err.message);
  }
}

// The Team section: what each account did in the chosen period. E-mails are people's data:
// every cell is text.
const teamTable = document.getElementById("team-table");
const teamEmpty = document.getElementById("team-empty");
const TEAM_REFRESH_MS = 5000; // at most one read of the team's figures this often, when live
const counted = (key) => ({ value: (a) => count(a[key]) });
// After the account's cell, in the table's order: value, [title: what the figure is made of]
const TEAM_COLUMNS = [
  counted("picked_up"), counted("replies"), counted("conversations_replied"),
  { value: (a) => duration(a.median_first_response_seconds),
    title: (a) => (a.first_responses
      ? `${plural(a.first_responses, "first response", "first responses")}, average ${duration(a.avg_first_response_seconds)}`
      : null) },
  counted("handed_back"), counted("closed"), counted("notes"), counted("open_assigned"),
];
let teamPeriod = document.querySelector("input[name=team-period]:checked").value;

/** Where a period starts: this day's midnight (the browser's time), or so many days ago. */
function periodStart(period) {
  const start = new Date();
  if (period === "today") start.setHours(0, 0, 0, 0);
  else start.setTime(start.getTime() - Number(period) * 86400_000);
  return start;
}

function renderTeam(accounts, period) {
  teamTable.tBodies[0].replaceChildren(...accounts.map((a) =>
    el("tr", { dataset: { user: a.user_id } },
      el("td", { title: a.role }, a.email,
        a.disabled ? el("span", { className: "status-badge status-closed", text: "disabled" }) : null),
      ...TEAM_COLUMNS.map(({ value, title }) =>
        el("td", { text: value(a), title: title ? title(a) : null })))));
  teamTable.hidden = accounts.length === 0;
  teamEmpty.hidden = accounts.length > 0;
  teamTable.dataset.period = period; // for the browser tests: this period's figures show
}

let teamLoadedAt = 0;
async function loadTeam() {
  const period = teamPeriod;
  teamLoadedAt = Date.now();
  try {
    const start = encodeURIComponent(periodStart(period).toISOString());
    const { accounts } = await api(`/admin/stats/team?start=${start}`);
    if (period === teamPeriod) renderTeam(accounts, period); // not an earlier choice's answer
  } catch (err) {
    toast("Could not load the team stats", err.message);
  }
}

/** A function that runs ``load`` soon: at once when ``loadedAt()`` is ``ms`` ago or more,
 * else once it is; the calls in between wait for that one run. */
function throttled(load, loadedAt, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      load();
    }, Math.max(0, loadedAt() + ms - Date.now()));
  };
}

// With the stats, and never more than once every TEAM_REFRESH_MS.
const teamSoon = throttled(() => loadTeam(), () => teamLoadedAt, TEAM_REFRESH_MS);

// The period's name ("Last 7 days") under each section's heading that follows it.
function showPeriod(period) {
  const choice = document.querySelector(`input[name=team-period][value="${period}"]`);
  const name = choice?.parentElement.textContent.trim() || "";
  for (const node of document.querySelectorAll("[data-period-caption]")) node.textContent = name;
}

for (const choice of document.querySelectorAll("input[name=team-period]")) {
  choice.addEventListener("change", () => {
    teamPeriod = choice.value;
    showPeriod(teamPeriod);
    loadTeam();
    loadSatisfaction();
  });
}
showPeriod(teamPeriod);

// The Satisfaction section: how the people who rated their closed conversations in the same
// period felt (CSAT: the share of 4 and 5 of 5), each score's count, per assignee, and the
// newest comments. Comments and names are people's words: every one is text.
const satisfactionSection = document.getElementById("satisfaction");
const satisfactionBody = document.getElementById("satisfaction-body");
const satisfactionEmpty = document.getElementById("satisfaction-empty");
const satisfactionCards = document.getElementById("satisfaction-cards");
const scoreBars = document.getElementById("score-bars");
const agentRows = document.querySelector("#satisfaction-agents tbody");
const ratingComments = document.getElementById("rating-comments");
const ratingCommentsEmpty = document.getElementById("rating-comments-empty");
const SATISFACTION_REFRESH_MS = 5000; // as the team's figures: at most one read this often
// A rating stamped this little before the server's answer may have missed it (stamped, then
// read, then stored): one that new is read again when its event comes.
const RATED_MARGIN_MS = 2000;
const csat = (satisfied, rated) => (rated ? pct(satisfied / rated) : "—");
const average = (x) => (x === null || x === undefined ? "—" : x.toFixed(1));

function renderSatisfaction(s, users, period) {
  satisfactionCards.replaceChildren(...[
    { key: "csat", label: "CSAT", value: csat(s.satisfied, s.rated),
      hint: `${count(s.satisfied)} of ${count(s.rated)} rated 4 or 5` },
    { key: "average", label: "Average score", value: average(s.average), hint: "out of 5" },
    { key: "rated", label: "Rated", value: count(s.rated),
      hint: s.rated === 1 ? "conversation" : "conversations" },
  ].map(({ key, label, value, hint }) =>
    el("div", { className: "stat-card", dataset: { key } },
      el("div", { className: "label", text: label }),
      el("div", { className: "value", text: value }),
      el("div", { className: "hint", text: hint }))));

  // Five bars, 5 on top: each score's count, as wide as its share of the largest.
  const most = Math.max(1, ...s.by_score);
  scoreBars.replaceChildren(...[5, 4, 3, 2, 1].map((score) => {
    const n = s.by_score[score - 1] || 0;
    const fill = el("span", { className: "score-fill" });
    fill.style.width = `${(100 * n) / most}%`; // CSSOM: allowed by the page's style-src
    return el("li", { dataset: { score: String(score) } },
      el("span", { className: "score-label" }, String(score),
        el("span", { className: "sr-only", text: score === 1 ? " star:" : " stars:" }),
        el("span", { "aria-hidden": "true", text: " ★" })),
      el("span", { className: "score-bar", "aria-hidden": "true" }, fill),
      el("span", { className: "score-count" }, count(n),
        el("span", { className: "sr-only", text: n === 1 ? " rating" : " ratings" })));
  }));

  agentRows.replaceChildren(...s.by_agent.map((a) =>
    el("tr", { dataset: { user: a.user_id === null ? "none" : String(a.user_id) } },
      el("td", { text: a.user_id === null ? "Unassigned" : users.get(a.user_id)?.email || `#${a.user_id}` }),
      el("td", { text: count(a.rated) }),
      el("td", { text: average(a.average) }),
      el("td", { text: csat(a.satisfied, a.rated) }))));

  ratingComments.replaceChildren(...s.comments.map((c) => {
    const time = el("time", { datetime: c.rated_at, text: clockTime(c.rated_at) });
    time.title = new Date(c.rated_at).toLocaleString();
    return el("li", { className: "rated-comment", dataset: { conversation: String(c.conversation_id) } },
      el("div", { className: "comment-head" },
        el("span", { className: `rating-score rating-${c.rating >= 4 ? "good" : c.rating <= 2 ? "bad" : "mixed"}` },
          el("span", { className: "sr-only", text: "Rated " }), `${c.rating}/5`),
        el("a", { href: `/conversations/${c.conversation_id}`, className: "comment-person",
          text: c.display_name || personName({ platform: c.platform }) }),
        time),
      el("p", { className: "comment-text", text: c.comment }));
  }));
  ratingCommentsEmpty.hidden = s.comments.length > 0;

  satisfactionBody.hidden = s.rated === 0;
  satisfactionEmpty.hidden = s.rated > 0;
  satisfactionSection.dataset.period = period; // for the browser tests: this period's figures show
}

let satisfactionLoadedAt = 0;
let ratedThrough = 0; // ratings stamped up to this time (ms, the server's clock) are shown
const ratingsSeen = new Set(); // "id at rated_at" of the ratings heard of live
async function loadSatisfaction() {
  const period = teamPeriod;
  satisfactionLoadedAt = Date.now();
  try {
    const start = encodeURIComponent(periodStart(period).toISOString());
    const [{ satisfaction, end }, users] = await Promise.all([
      api(`/admin/stats/satisfaction?start=${start}`), loadUsers()]);
    ratedThrough = Math.max(ratedThrough, Date.parse(end) - RATED_MARGIN_MS);
    if (period === teamPeriod) renderSatisfaction(satisfaction, users, period);
  } catch (err) {
    toast("Could not load the satisfaction stats", err.message);
  }
}
const satisfactionSoon = throttled(() => loadSatisfaction(), () => satisfactionLoadedAt,
  SATISFACTION_REFRESH_MS);

/** A conversation.updated: read the ratings again when it carries one newer than shown. */
function noteRating(c) {
  if (!c?.rated_at) return;
  const key = `${c.id} at ${c.rated_at}`;
  if (ratingsSeen.has(key)) return;
  ratingsSeen.add(key);
  if (Date.parse(c.rated_at) > ratedThrough) satisfactionSoon();
}

// The Tags section: the team's tags in use, most used first (tags are people's words: text).
const tagsTable = document.getElementById("tags-table");
const tagsWrap = document.getElementById("tags-wrap"); // hidden, with its focus stop, when empty
const tagsEmpty = document.getElementById("tags-empty");
const exportTag = document.getElementById("export-tag");
const TAGS_REFRESH_MS = 5000; // as the team's figures: at most one read this often, when live

function renderTags(tags) {
  tagsTable.tBodies[0].replaceChildren(...tags.map((t) =>
    el("tr", { dataset: { tag: t.tag } },
      el("td", {}, el("span", { className: "tag", text: t.tag })),
      el("td", { text: count(t.conversations) }),
      el("td", { text: count(t.open) }))));
  tagsWrap.hidden = tags.length === 0;
  tagsEmpty.hidden = tags.length > 0;
  // The export's choice of tag: the tags in use, the chosen one kept.
  const chosen = exportTag.value;
  const names = [...new Set([...tags.map((t) => t.tag), ...(chosen ? [chosen] : [])])].sort();
  exportTag.replaceChildren(exportTag.options[0],
    ...names.map((tag) => el("option", { value: tag, text: tag })));
  exportTag.value = chosen;
}

let tagsLoadedAt = 0;
async function loadTags() {
  tagsLoadedAt = Date.now();
  try {
    renderTags((await api("/admin/tags")).tags);
  } catch (err) {
    toast("Could not load the tags", err.message);
  }
}

// After a change that moves the counts: a conversation.updated whose trail lines put a tag
// on or took one off, closed or reopened a conversation (every tracked message is a
// conversation.updated too: those leave the tags as they are); never more than once every
// TAGS_REFRESH_MS.
const TAG_COUNT_KINDS = new Set(["tagged", "untagged", "closed", "reopened"]);
const tagsSoon = throttled(() => loadTags(), () => tagsLoadedAt, TAGS_REFRESH_MS);

// Changes made by another process (a separate worker) reach this page as conversation
// events, not as stats: refresh at most every few seconds after one.
let refreshTimer = null;
function soon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    load();
  }, 5000);
}

// Questions the bot could not answer (GET /admin/unanswered): its answers below the escalation
// threshold with what the person wrote, newest first, read when the page opens (and on a
// reconnect); "Show older" walks further back. A walk covers a bounded run of messages, so
// an empty one goes on by itself, a few times, before the page says there are none.
const unansweredList = document.getElementById("unanswered-list");
const unansweredEmpty = document.getElementById("unanswered-empty");
const unansweredOlder = document.getElementById("unanswered-older");
const UNANSWERED_WALKS = 10; // empty walks in a row before waiting for "Show older"
let unansweredBefore = null;

function unansweredItem(q) {
  const asked = q.question ?? "(the person's message is no longer there)";
  const sure = `${Math.round(100 * q.confidence)}% sure`;
  const about = q.intent && q.intent !== "fallback" ? ` · took it for "${q.intent}"` : "";
  return el("li", { dataset: { answer: q.answer_id } },
    el("a", { href: `/conversations/${q.conversation_id}`, className: "unanswered-question",
              text: asked }),
    el("span", { className: "muted small",
                 text: ` ${clockTime(q.created_at)} · ${sure}${about}` }));
}

async function loadUnanswered(fresh) {
  if (fresh) unansweredBefore = null;
  unansweredOlder.disabled = true;
  const found = [];
  try {
    for (let walk = 0; walk < UNANSWERED_WALKS; walk += 1) {
      const query = unansweredBefore ? `?before=${unansweredBefore}` : "";
      const page = await api(`/admin/unanswered${query}`);
      found.push(...page.questions);
      unansweredBefore = page.next_before;
      if (found.length || unansweredBefore === null) break;
    }
  } catch (err) {
    toast("Could not load the questions the bot could not answer", err.message);
  }
  const items = found.map(unansweredItem);
  if (fresh) unansweredList.replaceChildren(...items);
  else unansweredList.append(...items);
  unansweredEmpty.hidden = unansweredList.children.length > 0;
  unansweredEmpty.textContent = unansweredBefore === null
    ? "None: the bot answered everything it was asked."
    : "None among the latest messages.";
  unansweredOlder.hidden = unansweredBefore === null;
  unansweredOlder.disabled = false;
}
unansweredOlder.addEventListener("click", () => loadUnanswered(false));

// The export form: default to the last 30 days.
const today = new Date();
const monthAgo = new Date(today.getTime() - 30 * 86400_000);
const iso = (d) => d.toISOString().slice(0, 10);
document.getElementById("export-to").value = iso(today);
document.getElementById("export-from").value = iso(monthAgo);

await Promise.all([load(), loadTeam(), loadTags(), loadSatisfaction(), loadUnanswered(true)]);
connectLive(
  {
    "stats.updated": ({ stats }) => {
      clearTimeout(refreshTimer);
      refreshTimer = null;
      render(stats);
      teamSoon();
    },
    "conversation.created": soon,
    "conversation.updated": ({ conversation, activity }) => {
      soon();
      noteRating(conversation);
      if ((activity || []).some((a) => TAG_COUNT_KINDS.has(a.kind))) tagsSoon();
    },
  },
  { onSync: () => Promise.all([load(), loadTeam(), loadTags(), loadSatisfaction(),
                               loadUnanswered(true)]) },
);
document.body.dataset.ready = "stats";
