// One conversation: the live message stream, replies with their delivery state, handling.
import {
  api, clockTime, connectLive, duration, el, handledText, loadUsers, loadWaitingCount, me,
  nameList, noticeForNextPage, onAvailability, personName, platformBadge, setWaitingCount,
  statusBadge, toast, userName, Viewers, heardVisitor, visitorHere,
} from "./common.js";
import { clearDraft, loadDraft, loadDraftFiles, onDraftChange, saveDraft, saveDraftFiles } from "./drafts.js";
import { attachMentions } from "./mentions.js";
import { attachReplyFiles, fileSize } from "./reply_files.js";
import { attachSuggestions } from "./suggestions.js";
import { attachSavedReplies } from "./saved_replies.js";

const conversationId = Number(document.body.dataset.conversationId);
const PAGE = 50;
const $ = (id) => document.getElementById(id);
const stream = $("stream");
const list = $("messages");
const template = $("message-template");
const replyForm = $("reply-form");
const replyText = $("reply-text");
const replyError = $("reply-error");
const typingNote = $("typing");

let conversation = null;
const messages = new Map(); // id -> message
let hasOlder = false;
let socket = null;
let gone = false; // deleted (here, on another page, by the retention sweep): nothing more is asked

// -- header and side panel ------------------------------------------------------------------
function renderConversation() {
  if (gone) return; // a late answer must not bring the controls back
  const c = conversation;
  $("c-name").textContent = personName(c);
  document.title = `${personName(c)} · Switchboard`;
  renderVisitorHere();
  platformBadge($("c-platform"), c.platform);
  statusBadge($("c-status"), c.status);
  const handled = $("c-handled");
  handled.textContent = `handled by ${handledText(c)}`;
  handled.className = `handled-badge handled-${c.handled_by}`;
  const flag = $("c-needs-human");
  flag.hidden = !c.needs_human;
  flag.textContent = c.human_reason ? `needs human: ${c.human_reason}` : "needs human";
  $("take-over").hidden = c.handled_by === "human" || c.status === "closed";
  $("hand-back").hidden = c.handled_by !== "human" || c.status === "closed";
  $("close").hidden = c.status === "closed";
  $("reopen").hidden = c.status !== "closed";
  replyText.disabled = c.status === "closed";
  $("reply-send").disabled = c.status === "closed";
  $("reply-close").disabled = c.status === "closed";
  $("reply-attach").disabled = c.status === "closed";
  replyText.placeholder = c.status === "closed"
    ? "This conversation is closed: reopen it to reply."
    : "Write a reply… (Enter sends, Shift+Enter for a new line, / for saved replies)";
  const assign = $("assign");
  if (document.activeElement !== assign) assign.value = c.assigned_to ? String(c.assigned_to) : "";
  renderRating();
  renderFacts();
  renderTags();
  noteRead();
}

// -- the person's rating -------------------------------------------------------------------
// "Rated 4/5" and the person's comment (their words: text) once they have rated the closed
// conversation; drawn again only when it changes, so a screen reader hears it once.
let ratingShown = null;
function renderRating() {
  const c = conversation;
  const node = $("c-rating");
  const key = c.rating ? JSON.stringify([c.rating, c.rating_comment, c.rated_at]) : "";
  if (key === ratingShown) return;
  ratingShown = key;
  node.hidden = !c.rating;
  if (!c.rating) {
    node.replaceChildren();
    node.removeAttribute("title");
    delete node.dataset.score;
    return;
  }
  node.dataset.score = String(c.rating);
  const mood = c.rating >= 4 ? "good" : c.rating <= 2 ? "bad" : "mixed";
  node.replaceChildren(
    el("span", { className: `rating-score rating-${mood}`, text: `Rated ${c.rating}/5` }),
    ...(c.rating_comment ? [el("q", { className: "rating-comment", text: c.rating_comment })] : []));
  node.title = c.rated_at ? `Rated ${new Date(c.rated_at).toLocaleString()}` : "";
}

// -- tags ----------------------------------------------------------------------------------
// The conversation's tags as chips, each with its remove button; the form adds one. The
// server normalises and checks a tag (its answer, or its error, is what shows).
function renderTags() {
  const tags = conversation.tags || [];
  const chips = $("c-tags");
  // A chip's button that has the focus keeps it when the chips are drawn again (a change
  // from another page); one whose chip has gone hands it to its neighbour, else the input.
  const focused = chips.contains(document.activeElement) ? document.activeElement.closest("li") : null;
  const at = focused ? [...chips.children].indexOf(focused) : -1;
  chips.replaceChildren(...tags.map((tag) => el("li", { className: "tag", dataset: { tag } },
    el("span", { className: "tag-name", text: tag }),
    el("button", { type: "button", className: "tag-remove", text: "×", "aria-label": `Remove tag ${tag}` }))));
  if (focused) {
    const buttons = [...chips.querySelectorAll(".tag-remove")];
    const same = buttons.find((b) => b.closest("li").dataset.tag === focused.dataset.tag);
    const next = same || buttons[Math.min(at, buttons.length - 1)];
    if (next) next.focus();
    else $("tag-input").focus();
  }
  renderTagOptions();
}

// The team's tags, for the input's suggestions: read when it is first focused, and again on
// a later focus once they are a minute old.
const TAG_OPTIONS_MAX_AGE = 60_000;
let teamTags = [];
let teamTagsAt = 0;
async function loadTeamTags() {
  if (Date.now() - teamTagsAt < TAG_OPTIONS_MAX_AGE) return;
  teamTagsAt = Date.now();
  try {
    teamTags = (await api("/admin/tags")).tags.map((t) => t.tag);
    renderTagOptions();
  } catch {
    teamTagsAt = 0; // suggestions are a nicety: asked again at the next focus
  }
}
function renderTagOptions() {
  const have = new Set(conversation?.tags || []);
  $("tag-options").replaceChildren(...teamTags.filter((tag) => !have.has(tag))
    .map((tag) => el("option", { value: tag })));
}

function showTagError(message) {
  $("tag-error").textContent = message || "";
  $("tag-error").hidden = !message;
}

async function changeTag(method, path, json) {
  showTagError(null);
  try {
    const data = await api(path, { method, json });
    if (setConversation(data.conversation)) renderConversation();
    return true;
  } catch (err) {
    showTagError(err.message);
    return false;
  }
}

$("tag-input").addEventListener("focus", loadTeamTags);
$("tag-input").addEventListener("input", () => showTagError(null));
$("tag-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const tag = $("tag-input").value;
  if (!tag.trim()) return;
  $("tag-add").disabled = true;
  const added = await changeTag("POST", `/admin/conversations/${conversationId}/tags`, { tag });
  $("tag-add").disabled = false;
  if (added) {
    $("tag-input").value = ""; // on an error the tag stays in the box, to correct
    teamTagsAt = 0; // a new tag of the team's, suggested from the next focus on
  }
});
$("c-tags").addEventListener("click", (e) => {
  const button = e.target.closest(".tag-remove");
  if (!button) return;
  const tag = button.closest("li").dataset.tag;
  changeTag("DELETE", `/admin/conversations/${conversationId}/tags/${encodeURIComponent(tag)}`);
});

// -- what this account has read ------------------------------------------------------------
// The messages this page shows while it is in front, scrolled to the newest, are read: the
// account's mark (kept by the server, the same on every device) moves to the count, half a
// second after a change (or after scrolling back down to the newest message).
let readSent = 0; // the count last sent (or confirmed)
let readTimer = null;
let leaving = false; // marked unread: nothing more is marked read from this page

function noteRead() {
  if (readTimer === null) readTimer = setTimeout(sendRead, 500);
}

async function sendRead() {
  readTimer = null;
  const count = conversation?.message_count ?? 0;
  if (leaving || document.visibilityState !== "visible" || !nearBottom() || count <= readSent) {
    return;
  }
  const before = readSent;
  readSent = count;
  try {
    const data = await api(`/admin/conversations/${conversationId}/read`, {
      method: "PUT", json: { message_count: count },
    });
    readSent = Math.max(readSent, data.read.message_count);
  } catch {
    readSent = before; // sent again at the next change, or when the page is shown again
  }
}
document.addEventListener("visibilitychange", noteRead);
stream.addEventListener("scroll", () => {
  if (nearBottom()) noteRead();
}, { passive: true });

// "Mark unread": the account's mark moves back before the newest message, and the page goes
// back to the inbox (staying would mark it read again).
$("mark-unread").addEventListener("click", async () => {
  leaving = true;
  clearTimeout(readTimer);
  try {
    await api(`/admin/conversations/${conversationId}/read`, { method: "DELETE" });
    window.location.assign("/");
  } catch (err) {
    leaving = false;
    toast("Could not mark it unread", err.message, { alert: true });
  }
});

// "Next waiting": working through the queue, the agent goes on to the conversation that has
// waited longest for a human among their own, else among nobody's (one assigned to someone
// else is theirs to answer). Nothing else waiting: the page says so and stays.
async function nextWaiting() {
  const button = $("next-waiting");
  button.disabled = true;
  try {
    for (const who of [{ assigned_to: String(me.id) }, { unassigned: "true" }]) {
      const params = new URLSearchParams({ needs_human: "true", sort: "waiting", limit: "2", ...who });
      const { conversations: found } = await api(`/admin/conversations?${params}`);
      const next = found.find((c) => c.id !== conversationId);
      if (next) {
        window.location.assign(`/conversations/${next.id}`);
        return;
      }
    }
    toast("Nothing else is waiting", "No other conversation of yours, or of nobody's, needs a human now.");
  } catch (err) {
    toast("Could not find the next conversation", err.message, { alert: true });
  } finally {
    button.disabled = false;
  }
}
$("next-waiting").addEventListener("click", nextWaiting);

function renderWindow(window) {
  const node = $("c-window");
  node.hidden = !window;
  if (!window) return;
  node.textContent = `Messenger: ${window.label}`;
  node.className = `window-state window-${window.state}`;
}

function facts(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(el("dt", { text: label }), el("dd", { text: String(value) }));
  }
}

/** "14:05 (Europe/Paris)": the time now in a visitor's time zone; null for a zone this
 * browser does not know. */
function localTime(zone) {
  try {
    const time = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", timeZone: zone })
      .format(new Date());
    return `${time} (${zone})`;
  } catch {
    return null;
  }
}

function renderFacts() {
  const c = conversation;
  const profile = c.profile || {};
  const profilePairs = [["Name", c.display_name], ["Platform id", c.external_user_id]];
  for (const [key, value] of Object.entries(profile)) {
    if (value === null || typeof value === "object") continue;
    if (/pic|avatar|photo/i.test(key)) continue;
    if (key === "time_zone") { // a web chat visitor's browser: their time now, where they are
      const local = localTime(value);
      if (local) profilePairs.push(["Local time", local]);
      continue;
    }
    const shown = typeof value === "boolean" ? (value ? "yes" : "no") : value;
    profilePairs.push([key.replace(/_/g, " "), shown]);
  }
  facts($("profile"), profilePairs);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : null);
  const firstReply = c.first_human_reply_at && c.waiting_since === null && c.escalated_at
    ? duration((Date.parse(c.first_human_reply_at) - Date.parse(c.escalated_at)) / 1000) : null;
  facts($("facts"), [
    ["Started", when(c.created_at)],
    ["Last message", when(c.last_message_at)],
    ["Messages", c.message_count],
    ["Priority", `P${c.priority}`],
    ["Handled by", handledText(c)],
    ["Waiting since", when(c.waiting_since)],
    ["Escalated", when(c.escalated_at)],
    ["First human reply", when(c.first_human_reply_at)],
    ["Time to first reply", firstReply],
    ["Closed", when(c.closed_at)],
    ["Rated", c.rating ? [`${c.rating}/5`, when(c.rated_at)].filter(Boolean).join(", ") : null],
    ["Conversation id", c.id],
  ]);
}

// -- activity trail ------------------------------------------------------------------------
// Who handed the conversation over, took it, assigned it, closed it: newest first, from the
// API on load and live from each conversation.updated that carries lines.
const ACTIVITY_PAGE = 20;
const activity = new Map(); // id -> line
let activityOlder = false;

function account(id, email) {
  if (id && id === me.id) return "you";
  return email || (id ? userName(id) : "") || "a removed account";
}

function activityText(a) {
  const d = a.detail || {};
  const by = a.actor_id || a.actor ? account(a.actor_id, a.actor) : null;
  const who = by === "you" ? "You" : by;
  switch (a.kind) {
    case "escalated":
      return who
        ? `${who} flagged a message for a person${d.reason ? `: ${d.reason}` : ""}`
        : `The bot handed it over${d.reason ? `: ${d.reason}` : " to a person"}`;
    case "taken_over":
      return `${who || "A person"} took over from the bot`;
    case "handed_back":
      return `${who || "Someone"} handed it back to the bot`;
    case "assigned":
      if (d.auto) return `Assigned to ${account(d.to_id, d.to)} automatically`; // AUTO_ASSIGN
      if (d.to_id && d.to_id === a.actor_id) return `${who} picked it up`;
      return `${who || "Someone"} assigned it to ${account(d.to_id, d.to)}`;
    case "unassigned":
      return d.from_id && d.from_id !== a.actor_id
        ? `${who || "Someone"} unassigned ${account(d.from_id, null)}`
        : `${who || "Someone"} left it unassigned`;
    case "closed":
      return who ? `${who} closed it`
        : `Closed after ${duration(d.after_seconds)} with no message`;
    case "reopened":
      return `${who || "Someone"} reopened it`;
    case "handoff_timed_out":
      return `Nobody answered within ${duration(d.after_seconds)}`;
    case "priority_raised":
      return `Waiting long: priority raised to P${d.priority}`;
    case "tagged":
      if (d.renamed_from) return `${who || "Someone"} renamed the tag “${d.renamed_from}” to “${d.tag}”`;
      return `${who || "The bot"} tagged it “${d.tag}”`; // no account: the bot's answer
    case "untagged":
      if (d.everywhere) return `${who || "Someone"} deleted the tag “${d.tag}” from every conversation`;
      return `${who || "Someone"} removed the tag “${d.tag}”`;
    case "signed_in": // a web chat visitor who signed in on the site (identity verification)
      return d.name ? `The visitor signed in on the site as ${d.name}`
        : "The visitor signed in on the site";
    case "note":
      if (d.deleted_at) {
        const deleter = account(d.deleted_by_id, d.deleted_by);
        const Deleter = deleter === "you" ? "You" : deleter;
        if (d.deleted_by_id && d.deleted_by_id === a.actor_id) return `${Deleter} deleted a note`;
        return `${Deleter} deleted a note by ${account(a.actor_id, a.actor)}`;
      }
      return `${who || "Someone"}: ${d.text}`;
    default:
      return a.kind.replace(/_/g, " ");
  }
}

// A note's own buttons: its author edits and deletes it, an admin deletes anyone's.
function noteActions(a) {
  if (a.kind !== "note" || a.detail?.deleted_at) return null;
  const mine = a.actor_id === me.id;
  const button = (action, text) => el("button", {
    type: "button", className: `link-btn note-${action}`, text, "aria-label": `${text} note`,
  });
  const buttons = [];
  if (mine) buttons.push(button("edit", "Edit"));
  if (mine || me.role === "admin") buttons.push(button("delete", "Delete"));
  return buttons.length ? el("span", { className: "note-actions" }, ...buttons) : null;
}

// "@bob" in a note stands out, and a name that is this account's the more (the server tells
// the named accounts: note.mentioned). Text parts only, so nothing written becomes markup.
const MENTION = /(?<![\w@.])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)/g;
function withMentions(text) {
  const mine = [me.email.toLowerCase(), me.email.toLowerCase().split("@")[0]];
  const parts = [];
  let at = 0;
  for (const match of text.matchAll(MENTION)) {
    const name = match[1].replace(/\.+$/, "");
    parts.push(text.slice(at, match.index));
    parts.push(el("span", {
      className: mine.includes(name.toLowerCase()) ? "mention mention-me" : "mention",
      text: `@${name}`,
    }));
    at = match.index + 1 + name.length;
  }
  parts.push(text.slice(at));
  return parts.filter((p) => p !== "");
}

function renderActivity() {
  const lines = [...activity.values()].sort((a, b) => b.id - a.id);
  $("activity").replaceChildren(...lines.map((a) => {
    const time = el("time", { dateTime: a.created_at, text: clockTime(a.created_at) });
    time.title = new Date(a.created_at).toLocaleString();
    const note = a.kind === "note" && !a.detail?.deleted_at;
    const what = note
      ? el("span", { className: "what" }, `${activityText(a).slice(0, -a.detail.text.length)}`,
        ...withMentions(a.detail.text))
      : el("span", { className: "what", text: activityText(a) });
    if (a.kind === "note" && a.detail?.edited_at && !a.detail.deleted_at) {
      const edited = el("span", { className: "edited", text: " (edited)" });
      edited.title = `edited ${new Date(a.detail.edited_at).toLocaleString()}`;
      what.append(edited);
    }
    const deleted = a.kind === "note" && a.detail?.deleted_at;
    return el("li", { className: a.kind === "note" ? (deleted ? "note note-deleted" : "note") : null,
      dataset: { kind: a.kind, id: String(a.id) } },
      el("span", { className: "line" }, what, noteActions(a)), time);
  }));
  $("activity-empty").hidden = lines.length > 0;
  $("activity-older").hidden = !activityOlder;
}

function addActivity(lines) {
  if (gone) return;
  for (const a of lines || []) if (a.conversation_id === conversationId) activity.set(a.id, a);
  renderActivity();
}

async function loadActivity(before) {
  if (gone) return;
  const query = `limit=${ACTIVITY_PAGE}${before ? `&before=${before}` : ""}`;
  const data = await api(`/admin/conversations/${conversationId}/activity?${query}`);
  if (before || activity.size === 0) activityOlder = data.activity.length === ACTIVITY_PAGE;
  addActivity(data.activity);
}

// -- messages ----------------------------------------------------------------------------
function senderLabel(m) {
  if (m.sender_type === "user") return conversation ? personName(conversation) : "User";
  if (m.sender_type === "bot") return "Bot";
  if (m.sender_type === "agent") return m.sender_id === me.email ? "You" : m.sender_id || "Agent";
  return "System";
}

function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function renderAttachment(a) {
  const raw = a.url || a.payload?.url;
  const url = typeof raw === "string" && raw ? safeUrl(raw) : null;
  const kind = a.type || "file";
  const label = a.name || a.title || a.payload?.title || kind;
  if (url && kind === "image") {
    const link = el("a", { href: url, target: "_blank", rel: "noopener noreferrer" },
      el("img", { src: url, alt: label === kind ? "image attachment" : label, loading: "lazy" }));
    return el("li", {}, link);
  }
  const size = a.size > 0 ? ` (${fileSize(a.size)})` : "";
  const link = url && el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: `📎 ${label}${size}` });
  if (url && (kind === "video" || kind === "audio")) {
    // Played in place (nothing loads until asked), with the link to open or save it.
    const player = el(kind, { src: url, controls: "", preload: "none", "aria-label": label });
    return el("li", { className: "attachment-media" }, player, link);
  }
  if (url) return el("li", {}, link);
  return el("li", { text: `📎 ${label}` });
}

/** The page the person's message before `m` was written from (null: none, or no message). */
function previousPage(m) {
  let before = null;
  for (const other of messages.values()) {
    if (other.sender_type === "user" && other.id < m.id && (!before || other.id > before.id)) {
      before = other;
    }
  }
  return before?.metadata?.page?.url ?? null;
}

/** A link to a page of the site ({url, title}), named by its title or its address. */
function pageLink(page) {
  let shown = page.title;
  if (!shown) {
    try {
      const url = new URL(page.url);
      shown = url.host + url.pathname;
    } catch {
      shown = page.url;
    }
  }
  return el("a", {
    href: page.url, target: "_blank", rel: "noopener noreferrer", title: page.url, text: shown,
  });
}

function renderMessage(m) {
  const node = template.content.firstElementChild.cloneNode(true);
  node.dataset.id = String(m.id);
  node.dataset.sender = m.sender_type;
  node.classList.add(`msg-${m.sender_type}`);
  node.classList.toggle("flagged", m.requires_human && !m.human_replied);
  node.querySelector(".who").textContent = senderLabel(m);
  const time = node.querySelector("time");
  time.dateTime = m.created_at;
  time.textContent = clockTime(m.created_at);
  time.title = new Date(m.created_at).toLocaleString();
  node.querySelector(".text").textContent = m.content;
  node.querySelector(".text").hidden = !m.content && (m.attachments || []).length > 0;
  const attachments = node.querySelector(".attachments");
  for (const a of m.attachments || []) attachments.append(renderAttachment(a));
  attachments.hidden = !(m.attachments || []).length;

  // The page of the site a web chat visitor wrote from, when it is not the one of their
  // message before (the widget sends it; the server kept only http(s) addresses).
  const page = m.sender_type === "user" ? m.metadata?.page : null;
  if (page?.url && page.url !== previousPage(m)) {
    const where = node.querySelector(".page");
    where.hidden = false;
    where.replaceChildren("on ", pageLink(page));
  }

  const confidence = node.querySelector(".confidence");
  if (m.confidence_score !== null && m.confidence_score !== undefined) {
    confidence.hidden = false;
    confidence.textContent = `confidence ${Math.round(m.confidence_score * 100)}%`;
    confidence.classList.toggle("low", m.confidence_score < 0.5);
  }
  const flag = node.querySelector(".flag");
  if (m.requires_human) {
    flag.hidden = false;
    flag.classList.toggle("answered", Boolean(m.human_replied));
    flag.textContent = m.human_replied
      ? `replied by ${m.replied_by || "a human"}`
      : `needs human${m.human_reason ? `: ${m.human_reason}` : ""}`;
  }
  const outbound = m.sender_type !== "user";
  const delivery = node.querySelector(".delivery");
  node.dataset.delivery = m.delivery_status;
  if (outbound) {
    delivery.hidden = false;
    delivery.textContent = m.delivery_status;
    delivery.className = `delivery delivery-${m.delivery_status}`;
  }
  const error = node.querySelector(".delivery-error");
  if (outbound && m.delivery_status === "failed") {
    error.hidden = false;
    error.textContent = m.delivery_error || "not delivered";
  }
  const flagButton = node.querySelector(".act-flag");
  // The person's messages and the bot's answers can need a human; a team member's reply or
  // a system notice cannot.
  flagButton.hidden = (m.requires_human && !m.human_replied) ||
    m.sender_type === "agent" || m.sender_type === "system";
  flagButton.addEventListener("click", () => act(`/admin/messages/${m.id}/mark-human`, {}));
  const repliedButton = node.querySelector(".act-replied");
  repliedButton.hidden = !(m.requires_human && !m.human_replied);
  repliedButton.addEventListener("click", () => act(`/admin/messages/${m.id}/mark-replied`));
  const retryButton = node.querySelector(".act-retry");
  retryButton.hidden = !(outbound && m.delivery_status === "failed");
  retryButton.addEventListener("click", () => act(`/admin/messages/${m.id}/retry`));
  return node;
}

function nearBottom() {
  return stream.scrollHeight - stream.scrollTop - stream.clientHeight < 80;
}

// A reply's state only moves forward (pending → sent → delivered → read). An HTTP answer
// can arrive after the socket already told us the message was sent: keep the newer state.
const DELIVERY_RANK = { received: 0, pending: 1, sent: 2, delivered: 3, read: 4 };

function fresher(old, m) {
  if (!old) return m;
  const was = DELIVERY_RANK[old.delivery_status], now = DELIVERY_RANK[m.delivery_status];
  if (was >= DELIVERY_RANK.sent && now !== undefined && now < was) {
    return { ...m, delivery_status: old.delivery_status, delivery_error: old.delivery_error,
      external_id: old.external_id };
  }
  return m;
}

/** Take a conversation unless it is older than the one shown (answers and events race). */
function setConversation(c) {
  if (conversation && Date.parse(c.updated_at) < Date.parse(conversation.updated_at)) return false;
  conversation = c;
  return true;
}

function upsertMessage(m) {
  if (gone || m.conversation_id !== conversationId) return;
  m = fresher(messages.get(m.id), m);
  const stick = nearBottom();
  messages.set(m.id, m);
  const node = renderMessage(m);
  const existing = list.querySelector(`.msg[data-id="${m.id}"]`);
  if (existing) {
    existing.replaceWith(node);
  } else {
    const after = [...list.children].find((li) => Number(li.dataset.id) > m.id);
    list.insertBefore(node, after || null);
  }
  if (stick && !existing) stream.scrollTop = stream.scrollHeight;
  if (m.sender_type === "user") showTyping(null);
}

function renderAllMessages() {
  list.replaceChildren(...[...messages.values()].sort((a, b) => a.id - b.id).map(renderMessage));
  $("load-older").hidden = !hasOlder;
}

// -- loading -----------------------------------------------------------------------------
async function load() {
  if (gone) return;
  const data = await api(`/admin/conversations/${conversationId}?limit=${PAGE}`);
  if (gone) return;
  setConversation(data.conversation);
  for (const m of data.messages) messages.set(m.id, fresher(messages.get(m.id), m));
  if (messages.size === data.messages.length) hasOlder = data.messages.length === PAGE;
  renderConversation();
  renderWindow(data.window);
  renderAllMessages();
}

// The person's other conversations (the same platform and id), newest first: what they
// wrote about before is a click away. Read with the page and again on a reconnect.
const HISTORY_SHOWN = 10;
async function loadPersonHistory() {
  if (gone || !conversation) return;
  const params = new URLSearchParams({
    platform: conversation.platform, external_user_id: conversation.external_user_id,
    limit: String(HISTORY_SHOWN + 1),
  });
  const others = (await api(`/admin/conversations?${params}`)).conversations
    .filter((c) => c.id !== conversationId).slice(0, HISTORY_SHOWN);
  $("person-history").replaceChildren(...others.map((c) => {
    const when = new Date(c.last_message_at).toLocaleDateString();
    const link = el("a", { href: `/conversations/${c.id}` },
      el("span", { className: "history-when", text: when }), " ",
      el("span", { className: "history-status", text: c.status }),
      c.rating ? el("span", { className: "history-rating", text: ` · rated ${c.rating}/5` }) : "",
      " ", el("span", { className: "history-preview", text: c.last_message_preview || "" }));
    return el("li", {}, link);
  }));
  $("person-history-none").hidden = others.length > 0;
}

async function loadOlder() {
  const oldest = Math.min(...messages.keys());
  const data = await api(`/admin/conversations/${conversationId}/messages?limit=${PAGE}&before=${oldest}`);
  for (const m of data.messages) messages.set(m.id, m);
  hasOlder = data.messages.length === PAGE;
  const height = stream.scrollHeight;
  renderAllMessages();
  stream.scrollTop += stream.scrollHeight - height;
}

async function refreshWindow() {
  if (gone || conversation?.platform !== "messenger") return;
  const data = await api(`/admin/conversations/${conversationId}?limit=1`);
  renderWindow(data.window);
}

// -- actions -----------------------------------------------------------------------------
async function act(path, json) {
  try {
    const data = await api(path, { method: "POST", json });
    if (data.conversation && setConversation(data.conversation)) renderConversation();
    if (data.message) upsertMessage(data.message);
    return data;
  } catch (err) {
    toast("That did not work", err.message, { alert: true });
    return null;
  }
}

$("take-over").addEventListener("click", () => act(`/admin/conversations/${conversationId}/take-over`));
$("hand-back").addEventListener("click", () => act(`/admin/conversations/${conversationId}/hand-back`));
$("close").addEventListener("click", () => act(`/admin/conversations/${conversationId}/close`));
$("reopen").addEventListener("click", () => act(`/admin/conversations/${conversationId}/reopen`));
$("load-older").addEventListener("click", loadOlder);
// The note form adds a note, or edits one of the account's own (Edit on its line puts it
// in the box; Cancel or Esc goes back to adding, with what was being written before).
let editing = null; // { id, draft } while a note is being edited
function editNote(id) {
  const line = activity.get(id);
  if (!line) return;
  if (!editing) editing = { id, draft: $("note-text").value };
  editing.id = id;
  $("note-text").value = line.detail.text;
  $("note-add").textContent = "Save note";
  $("note-cancel").hidden = false;
  $("note-error").hidden = true;
  $("note-text").focus();
}
function stopEditing() {
  if (!editing) return;
  $("note-text").value = editing.draft;
  editing = null;
  $("note-add").textContent = "Add note";
  $("note-cancel").hidden = true;
  $("note-error").hidden = true;
}
async function deleteNote(id) {
  if (!window.confirm("Delete this note? Its text is removed for everyone.")) return;
  try {
    const data = await api(`/admin/notes/${id}`, { method: "DELETE" });
    if (editing?.id === id) stopEditing();
    addActivity([data.activity]);
  } catch (err) {
    toast("Could not delete the note", err.message, { alert: true });
  }
}
$("activity").addEventListener("click", (e) => {
  const button = e.target.closest("button");
  const id = Number(button?.closest("li")?.dataset.id);
  if (button?.classList.contains("note-edit")) editNote(id);
  else if (button?.classList.contains("note-delete")) deleteNote(id);
});
$("note-cancel").addEventListener("click", stopEditing);

$("note-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("note-text").value;
  if (!text.trim()) return;
  $("note-error").hidden = true;
  $("note-add").disabled = true;
  try {
    const data = editing
      ? await api(`/admin/notes/${editing.id}`, { method: "PUT", json: { text } })
      : await api(`/admin/conversations/${conversationId}/notes`, { method: "POST", json: { text } });
    if (editing) stopEditing();
    else {
      $("note-text").value = "";
      clearDraft(conversationId, "note");
    }
    addActivity([data.activity]);
  } catch (err) {
    $("note-error").textContent = err.message; // the text stays in the box, to send again
    $("note-error").hidden = false;
  } finally {
    $("note-add").disabled = false;
  }
});
attachMentions($("note-text"), $("mention-picker")); // "@" lists the teammates to name
// A note being written (not one being edited) is kept as a draft too (drafts.js).
$("note-text").value = loadDraft(conversationId, "note");
$("note-text").addEventListener("input", () => {
  if (!editing) saveDraft(conversationId, $("note-text").value, "note");
});
$("note-text").addEventListener("keydown", (e) => {
  // Enter makes a new line in a note; Ctrl+Enter (⌘+Enter) adds or saves it; Esc stops an edit.
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.isComposing) {
    e.preventDefault();
    $("note-form").requestSubmit();
  } else if (e.key === "Escape" && editing) {
    e.preventDefault();
    stopEditing();
  }
});
$("activity-older").addEventListener("click", () => {
  loadActivity(Math.min(...activity.keys())).catch((err) => toast("Could not load the activity", err.message, { alert: true }));
});
$("assign").addEventListener("change", (e) => {
  const value = e.target.value ? Number(e.target.value) : null;
  act(`/admin/conversations/${conversationId}/assign`, { user_id: value });
});

function replyProblem(text) {
  replyError.textContent = text;
  replyError.hidden = false;
}
// Files to send with the reply: "Attach", or pasted or dropped on the reply box.
const replyFiles = attachReplyFiles({
  conversationId,
  maxBytes: Number(document.body.dataset.uploadMax),
  button: $("reply-attach"),
  input: $("reply-file"),
  list: $("reply-files"),
  dropZone: replyForm,
  onChange: () => {
    replyError.hidden = true;
    saveDraftFiles(conversationId, replyFiles.uploaded());
  },
  onError: replyProblem,
});
// Answers from the knowledge file close to the person's latest message (suggestions.js).
const suggestions = attachSuggestions({
  conversationId,
  box: replyText,
  strip: $("suggestions"),
  items: $("suggestion-list"),
  state: () => ({ conversation, messages }),
  onUse: () => {
    saveDraft(conversationId, replyText.value);
    sendTyping(true);
  },
});
// The draft's files come back with it, but not those the server has deleted since as never
// sent (UNSENT_FILE_HOURS; a few minutes' margin for the clocks).
const unsentFileHours = Number(document.body.dataset.unsentFileHours || 0);
const draftFilesAge = unsentFileHours ? unsentFileHours * 3600e3 - 10 * 60e3 : 0;
replyFiles.show(loadDraftFiles(conversationId, draftFilesAge));

/** Send what the reply box holds (and the files attached); true once the server took it. */
async function sendReply() {
  const content = replyText.value;
  if (replyFiles.busy()) {
    replyProblem("Wait for the files to finish uploading.");
    return false;
  }
  const attachments = replyFiles.ids();
  if (!content.trim() && !attachments.length) return false;
  replyError.hidden = true;
  $("reply-send").disabled = true;
  $("reply-close").disabled = true;
  try {
    const data = await api(`/admin/conversations/${conversationId}/messages`, {
      method: "POST", json: { content, attachments },
    });
    replyText.value = "";
    replyFiles.clear();
    clearDraft(conversationId);
    // The socket may already have told us more (sent, or failed): the answer is older.
    if (!messages.has(data.message.id)) upsertMessage(data.message);
    stream.scrollTop = stream.scrollHeight;
    sendTyping(false);
    return true;
  } catch (err) {
    replyProblem(err.message);
    return false;
  } finally {
    $("reply-send").disabled = conversation?.status === "closed";
    $("reply-close").disabled = conversation?.status === "closed";
    replyText.focus();
  }
}
// "Send & close": the last word to the person, then the conversation closed (as Close
// does: on Messenger the person is asked how it went). A reply that fails closes nothing.
$("reply-close").addEventListener("click", async () => {
  if (await sendReply()) await act(`/admin/conversations/${conversationId}/close`);
});
replyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  sendReply();
});
attachSavedReplies(replyText, $("saved-picker"), {
  displayName: () => conversation?.display_name,
  onPick: () => {
    saveDraft(conversationId, replyText.value);
    sendTyping(true);
  },
});
// What is typed and not sent is kept as this account's draft (drafts.js), put back when the
// page opens again, and followed from another tab while this box is not being written in.
replyText.value = loadDraft(conversationId);
replyText.addEventListener("input", () => saveDraft(conversationId, replyText.value));
onDraftChange((id, text, kind, files) => {
  const box = kind === "note" ? $("note-text") : replyText;
  if (id !== conversationId || gone || (kind === "note" && editing)) return;
  if (document.activeElement !== box || !document.hasFocus()) box.value = text;
  // The files too (sent from the other tab: none), unless this one is uploading.
  if (!kind && !replyFiles.busy()) replyFiles.show(files);
});
replyText.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sendReply();
  }
});

// -- typing, both ways ------------------------------------------------------------------------
let typingSent = 0;
let typingIdle = null;
function sendTyping(typing) {
  if (gone || !socket?.connected) return;
  clearTimeout(typingIdle);
  if (typing) {
    typingIdle = setTimeout(() => sendTyping(false), 4000);
    if (Date.now() - typingSent < 2500) return;
    typingSent = Date.now();
  } else {
    typingSent = 0;
  }
  socket.emit("typing", { conversation_id: conversationId, typing });
}
replyText.addEventListener("input", () => sendTyping(replyText.value.length > 0));

let typingHide = null;
function showTyping(text) {
  clearTimeout(typingHide);
  typingNote.hidden = !text;
  typingNote.textContent = text || "";
  if (text) typingHide = setTimeout(() => showTyping(null), 6000);
}
function onTyping(data) {
  if (data.conversation_id !== conversationId) return;
  if (data.sender_type === "agent" && data.user_id === me.id) return;
  if (!["agent", "user", "bot"].includes(data.sender_type)) return;
  if (!data.typing) return showTyping(null);
  const who = data.sender_type === "agent" ? (data.name || userName(data.user_id))
    : data.sender_type === "bot" ? "The bot" // a slow bot preparing its answer
      : (conversation ? personName(conversation) : "The person");
  showTyping(`${who} is typing…`);
}

// -- who else has this conversation open ----------------------------------------------------
// Every page showing the conversation says so on joining (the others answer) and every
// PRESENCE_EVERY ms (see Viewers).
const PRESENCE_EVERY = 25_000;
const viewers = new Viewers();
let answerHello = null;

function sayViewing() {
  clearTimeout(answerHello);
  answerHello = null;
  if (!gone && socket?.connected) socket.emit("viewing", { conversation_id: conversationId });
}

function renderViewers() {
  const names = viewers.names(conversationId);
  const node = $("c-viewers");
  node.hidden = names.length === 0;
  node.textContent = names.length ? `Also here: ${nameList(names)}` : "";
  node.title = names.join("\n");
}

// Answer a newcomer's hello, or an inbox's question, once, a moment later, so that several
// get one answer.
function answerSoon() {
  if (answerHello === null) answerHello = setTimeout(sayViewing, 1100);
}

function onPresence(data) {
  if (data.conversation_id !== conversationId || !viewers.take(data)) return;
  if (data.viewing && data.hello) answerSoon();
  renderViewers();
}

// -- whether the person is on the site (web chat) -------------------------------------------
// Joining and each heartbeat ask the person's widgets (the server's visitor.query); each one
// answers with `visitor.presence` (online, the chat open, the page in front, which page), and
// says when it goes (common.js: heardVisitor, visitorHere).
const visitorWidgets = new Map(); // the widget's opaque id -> { open, visible, page, at }
let visitorLeftAt = null;
const visitorAskedAt = Date.now();

function onVisitorPresence(data) {
  if (data.conversation_id !== conversationId || typeof data.visitor !== "string") return;
  if (heardVisitor(visitorWidgets, data)) visitorLeftAt = new Date();
  renderVisitorHere();
}

function renderVisitorHere() {
  const node = $("c-here");
  if (!conversation || conversation.platform !== "webchat" || gone) {
    node.hidden = true;
    return;
  }
  const best = visitorHere(visitorWidgets, (at) => { visitorLeftAt = at; });
  node.dataset.state = best ? best.state : visitorLeftAt ? "left" : "unknown";
  if (best) {
    node.replaceChildren(`On the site now · ${best.how}`);
    if (best.page?.url) node.append(" · ", pageLink(best.page));
  } else if (visitorLeftAt) {
    node.replaceChildren(`Left the site at ${clockTime(visitorLeftAt.toISOString())}`);
  } else if (Date.now() - visitorAskedAt > 5000) {
    node.replaceChildren("Not on the site now");
    node.dataset.state = "away";
  } else {
    node.hidden = true;
    return;
  }
  node.hidden = false;
}

// -- deleted -------------------------------------------------------------------------------
// Deleted anywhere (this page, another admin's, the retention sweep; the socket's
// conversation.deleted, or a 404 when the page reads it again): the page says so, its
// controls are disabled and it asks nothing more about the conversation.
const rooms = [{ conversation_id: conversationId }]; // emptied once deleted: no join on reconnect

function markDeleted() {
  if (gone) return;
  gone = true;
  leaving = true; // nothing more is marked read
  clearTimeout(readTimer);
  clearTimeout(answerHello);
  rooms.length = 0;
  if (socket?.connected) socket.emit("leave", { conversation_id: conversationId });
  const notice = $("c-deleted");
  notice.replaceChildren("This conversation was deleted.",
    el("a", { href: "/", text: "Back to the inbox" }));
  notice.hidden = false;
  for (const node of document.querySelectorAll(
    ".conversation button, .conversation input, .conversation select, .conversation textarea")) {
    node.disabled = true;
  }
  replyText.placeholder = "This conversation was deleted.";
  clearDraft(conversationId);
  clearDraft(conversationId, "note");
  $("saved-picker").hidden = true;
  showTyping(null);
  const dialog = $("delete-dialog");
  if (dialog?.open && !deleting) dialog.close();
}

// -- deleting it (admins) --------------------------------------------------------------------
// "Delete…" asks first, in a dialog (Esc or Cancel: nothing is deleted): this conversation,
// or every conversation of its person, as an erasure request asks. Done, the page goes to
// the inbox, which says so; a refusal shows in the dialog and the page stays.
const deleteOpen = $("delete-open");
const deleteDialog = $("delete-dialog");
const deleteButtons = ["delete-cancel", "delete-one", "delete-person"].map($);
let deleting = false; // a deletion asked for and not answered yet (or answered: leaving)
let deleteAsked = 0; // a counter: the count of an earlier opening is dropped

function showDeleteError(message) {
  $("delete-error").textContent = message || "";
  $("delete-error").hidden = !message;
}

/** How many conversations the person has (at most a page of them, and whether more). */
async function personConversations() {
  const params = new URLSearchParams({
    platform: conversation.platform, external_user_id: conversation.external_user_id, limit: "200",
  });
  const data = await api(`/admin/conversations?${params}`);
  return { count: data.count, more: Boolean(data.next_cursor) };
}

function openDeleteDialog() {
  if (gone || !conversation || deleteDialog.open) return;
  const name = personName(conversation);
  $("delete-title").textContent = `Delete the conversation with ${name}?`;
  $("delete-person").textContent = "Delete every conversation of this person";
  $("delete-person").hidden = false;
  $("delete-count").hidden = true;
  showDeleteError(null);
  for (const button of deleteButtons) button.disabled = false;
  deleteDialog.showModal();
  $("delete-cancel").focus();
  const asked = ++deleteAsked;
  personConversations().then(({ count, more }) => {
    if (asked !== deleteAsked || !deleteDialog.open) return;
    if (count <= 1 && !more) { // this one only: the second choice would say the same
      $("delete-person").hidden = true;
      return;
    }
    const n = more ? `${count}+` : String(count);
    $("delete-person").textContent = `Delete all ${n} conversations of this person`;
    $("delete-count").textContent = `${name} has ${n} conversations here, closed ones included.`;
    $("delete-count").hidden = false;
  }).catch(() => {}); // the choice keeps its general words
}

async function deleteConversation(person) {
  if (deleting || gone) return;
  deleting = true;
  showDeleteError(null);
  for (const button of deleteButtons) button.disabled = true;
  deleteDialog.setAttribute("aria-busy", "true");
  const name = personName(conversation);
  try {
    const data = await api(`/admin/conversations/${conversationId}${person ? "?person=true" : ""}`,
      { method: "DELETE" });
    leaving = true;
    clearTimeout(readTimer);
    noticeForNextPage(data.count === 1 ? "Conversation deleted" : `${data.count} conversations deleted`,
      person ? `Every conversation of ${name}` : `The conversation with ${name}`);
    window.location.assign("/");
  } catch (err) {
    deleting = false;
    deleteDialog.removeAttribute("aria-busy");
    if (gone) { // deleted meanwhile by someone else: the page says so
      deleteDialog.close();
      return;
    }
    for (const button of deleteButtons) button.disabled = false;
    showDeleteError(err.message);
    $("delete-cancel").focus();
  }
}

if (deleteOpen && deleteDialog) {
  deleteOpen.addEventListener("click", openDeleteDialog);
  $("delete-cancel").addEventListener("click", () => deleteDialog.close());
  $("delete-one").addEventListener("click", () => deleteConversation(false));
  $("delete-person").addEventListener("click", () => deleteConversation(true));
  // The page behind is inert while the dialog is open; Tab also wraps at its ends instead of
  // leaving for the browser's own controls.
  deleteDialog.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const buttons = deleteButtons.filter((b) => !b.hidden && !b.disabled);
    const first = buttons[0], last = buttons.at(-1);
    if (!first) {
      e.preventDefault(); // every choice waits for the answer: nowhere to go
    } else if (e.shiftKey ? document.activeElement === first : document.activeElement === last) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  });
  deleteDialog.addEventListener("cancel", (e) => {
    if (deleting) e.preventDefault(); // Esc while the deletion is on its way: wait for it
  });
  deleteDialog.addEventListener("close", () => {
    deleteAsked += 1;
    // Back where the dialog was opened from (or, deleted meanwhile, to the notice's link).
    if (gone) $("c-deleted").querySelector("a")?.focus();
    else deleteOpen.focus();
  });
}

// -- start -------------------------------------------------------------------------------
// The assign list: every enabled account; with AUTO_ASSIGN, those available now are marked
// ("ann@example.com (available)"), live, and with AUTO_ASSIGN_ONLINE_ONLY those available
// with no page open as the page loaded or last reconnected ("(available, offline)": they
// are given nothing until they open one).
const users = await loadUsers();
function assignLabel(u) {
  const offline = me.onlineOnly && u.id !== me.id && u.online === false;
  const available = me.autoAssign && u.available
    ? (offline ? "available, offline" : "available") : null;
  const notes = [u.id === me.id ? "you" : null, available];
  const said = notes.filter(Boolean).join(", ");
  return said ? `${u.email} (${said})` : u.email;
}
for (const u of [...users.values()].filter((u) => !u.disabled)) {
  $("assign").append(el("option", { value: String(u.id), text: assignLabel(u) }));
}
onAvailability((userId) => {
  const option = $("assign").querySelector(`option[value="${userId}"]`);
  if (option && users.has(userId)) option.textContent = assignLabel(users.get(userId));
});
/** A read of the page failed: one that has gone meanwhile (404) was deleted. */
function loadFailed(what, err, { quiet = false } = {}) {
  if (err?.status === 404) markDeleted();
  else if (!quiet) toast(`Could not load the ${what}`, err.message, { alert: true });
}
try {
  await load();
  suggestions.refresh();
  stream.scrollTop = stream.scrollHeight;
  loadPersonHistory().catch((err) => loadFailed("person's other conversations", err, { quiet: true }));
} catch (err) {
  loadFailed("conversation", err);
}
loadActivity().catch((err) => loadFailed("activity", err));
socket = connectLive(
  {
    "message.created": ({ message }) => {
      upsertMessage(message);
      if (message.conversation_id !== conversationId) return;
      if (message.sender_type === "user") suggestions.refresh();
      else suggestions.update(); // an agent's answer puts them away
    },
    "message.updated": ({ message }) => upsertMessage(message),
    "conversation.updated": ({ conversation: c, activity: lines }) => {
      if (c.id !== conversationId) return;
      if (lines) addActivity(lines);
      const windowMoved = c.last_user_message_at !== conversation?.last_user_message_at;
      if (!setConversation(c)) return;
      renderConversation();
      suggestions.update();
      if (windowMoved) refreshWindow().catch(() => {});
    },
    "conversation.deleted": (data) => {
      if ((data.conversation?.id ?? data.conversation_id) === conversationId) markDeleted();
    },
    typing: onTyping,
    presence: onPresence,
    "visitor.presence": onVisitorPresence,
    "presence.query": answerSoon, // an inbox asks who is where
    "stats.updated": ({ stats }) => setWaitingCount(stats.conversations_needing_human, { title: false }),
  },
  {
    rooms,
    onSync: () => {
      load().then(loadPersonHistory).catch((err) => loadFailed("conversation", err, { quiet: true }));
      suggestions.refresh();
      loadActivity().catch((err) => loadFailed("activity", err, { quiet: true }));
      loadWaitingCount({ title: false });
    },
  },
);
loadWaitingCount({ title: false });
setInterval(() => refreshWindow().catch(() => {}), 60_000);
setInterval(sayViewing, PRESENCE_EVERY);
setInterval(renderViewers, 10_000);
setInterval(renderVisitorHere, 5_000);
setInterval(() => { if (conversation?.profile?.time_zone) renderFacts(); }, 30_000); // its local time
setTimeout(renderVisitorHere, 5_100); // no widget answered: not on the site
document.body.dataset.ready = "conversation";
