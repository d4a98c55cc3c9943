// The inbox: a filtered, sorted, paginated list of conversations that updates itself live.
import {
  api, beep, connectLive, el, handledText, loadUsers, loadWaitingCount, me, nameList, personName,
  platformBadge, refreshTimes, setWaitingCount, showNoticeLeft, statusBadge, timeAgo, toast,
  Viewers, heardVisitor, visitorHere,
} from "./common.js";
import { drafts, onDraftChange } from "./drafts.js";

const PAGE = 50;
const list = document.getElementById("conv-list");
const rowTemplate = document.getElementById("row-template");
const loadMoreButton = document.getElementById("load-more");
const emptyNote = document.getElementById("empty");
const emptyFiltered = document.getElementById("empty-filtered");
const emptyNone = document.getElementById("empty-none");
const f = {
  search: document.getElementById("f-search"),
  status: document.getElementById("f-status"),
  platform: document.getElementById("f-platform"),
  tag: document.getElementById("f-tag"),
  assignee: document.getElementById("f-assignee"), // one account's conversations
  sort: document.getElementById("f-sort"),
  needsHuman: document.getElementById("f-needs-human"),
  mine: document.getElementById("f-mine"),
  unassigned: document.getElementById("f-unassigned"),
  unread: document.getElementById("f-unread"),
};
const soundOption = document.getElementById("opt-sound");
const notifyButton = document.getElementById("opt-notify");

const conversations = new Map(); // id -> conversation as the API returns it
const needsHuman = new Map(); // id -> needs_human as last pushed over the socket
const pinned = []; // ids that just started needing a human: shown first, newest first
const deleted = new Set(); // ids deleted while the page is open: a list read before stays without them
let nextCursor = null;
let loading = 0; // a counter, so a stale response from older filters is dropped
let waiting = 0;

// -- filters -----------------------------------------------------------------------
function query() {
  const params = new URLSearchParams({ limit: String(PAGE) });
  params.set("sort", f.sort.value);
  if (f.search.value.trim()) params.set("q", f.search.value.trim());
  if (f.status.value) params.set("status", f.status.value);
  if (f.platform.value) params.set("platform", f.platform.value);
  if (f.tag.value) params.set("tag", f.tag.value);
  if (f.needsHuman.checked) params.set("needs_human", "true");
  if (f.mine.checked) params.set("assigned_to", String(me.id));
  else if (f.assignee.value) params.set("assigned_to", f.assignee.value);
  if (f.unassigned.checked) params.set("unassigned", "true");
  if (f.unread.checked) params.set("unread", "true");
  return params;
}

/** Whether any filter narrows the list (an empty list then says so, not "none yet"). */
function filtering() {
  return Boolean(f.search.value.trim() || f.status.value || f.platform.value || f.tag.value ||
    f.assignee.value || f.needsHuman.checked || f.mine.checked || f.unassigned.checked || f.unread.checked);
}

/** Whether a conversation pushed over the socket belongs in the current list. */
function matches(c) {
  if (f.status.value && c.status !== f.status.value) return false;
  if (f.platform.value && c.platform !== f.platform.value) return false;
  if (f.tag.value && !(c.tags || []).includes(f.tag.value)) return false;
  if (f.needsHuman.checked && !c.needs_human) return false;
  if (f.mine.checked && c.assigned_to !== me.id) return false;
  if (f.assignee.value && c.assigned_to !== Number(f.assignee.value)) return false;
  if (f.unassigned.checked && c.assigned_to !== null) return false;
  // A row whose mark is not known yet stays until it is (see renderUnread).
  if (f.unread.checked && reads.has(c.id) && unread(c) === 0) return false;
  const q = f.search.value.trim().toLowerCase();
  if (q) {
    const text = `${c.display_name || ""} ${c.last_message_preview || ""}`.toLowerCase();
    if (!text.includes(q) && !conversations.has(c.id)) return false;
  }
  return true;
}

// The server's orders (keyset pages), mirrored to place rows pushed over the socket:
// last activity; priority; waiting (needing a human first, the longest wait first).
const ms = (iso) => (iso ? Date.parse(iso) : null);
function compare(a, b) {
  const byActivity = ms(b.last_message_at) - ms(a.last_message_at) || b.id - a.id;
  if (f.sort.value === "priority") return a.priority - b.priority || byActivity;
  if (f.sort.value === "waiting") {
    if (a.needs_human !== b.needs_human) return a.needs_human ? -1 : 1;
    const wa = ms(a.waiting_since), wb = ms(b.waiting_since);
    if (wa !== null && wb !== null) return wa - wb || byActivity;
    if (wa !== null || wb !== null) return wa !== null ? -1 : 1;
  }
  return byActivity;
}

// -- unread: the messages past this account's read mark (kept by the server, the same on
// every device; a conversation page moves it) ------------------------------------------------
const reads = new Map(); // conversation id -> the account's mark (a message count; 0: never)
const unknownMarks = new Set(); // rows pushed over the socket whose mark is still asked for
let marksTimer = null;

function unread(c) {
  if (!reads.has(c.id)) return 0; // not known yet: no badge rather than a wrong one
  return Math.max(0, c.message_count - reads.get(c.id));
}

function takeMarks(ids, marks) {
  if (!marks) return; // the server could not read them: no badges rather than wrong ones
  for (const id of ids) if (!reads.has(id)) reads.set(id, 0);
  for (const m of marks) reads.set(m.conversation_id, m.message_count); // as the server has it
  for (const id of ids) adoptOldMark(id);
}

// A conversation the socket brings in that no listed page held: its mark is asked for,
// those of a few such rows together (at most 100 a request).
function askMark(id) {
  if (reads.has(id)) return;
  unknownMarks.add(id);
  marksTimer ??= setTimeout(fetchMarks, 300);
}
async function fetchMarks() {
  marksTimer = null;
  const ids = [...unknownMarks].slice(0, 100);
  for (const id of ids) unknownMarks.delete(id);
  try {
    const data = await api(`/admin/read-marks?ids=${ids.join(",")}`);
    takeMarks(ids, data.read);
    for (const id of ids) renderUnread(id);
  } catch {
    /* the rows keep no badge; their next update (or the next load) asks again */
  }
  if (unknownMarks.size) marksTimer ??= setTimeout(fetchMarks, 300);
}

// Before the server kept them, this browser kept marks of its own (sb.seen.<id>): each is
// sent once, when its row is first listed, then forgotten.
function adoptOldMark(id) {
  const key = `sb.seen.${id}`;
  const stored = localStorage.getItem(key);
  if (stored === null) return;
  localStorage.removeItem(key);
  const old = Number(stored);
  if (!(old > reads.get(id))) return;
  reads.set(id, old);
  api(`/admin/conversations/${id}/read`, { method: "PUT", json: { message_count: old } }).catch(() => {});
}

function onRead({ read }) {
  if (read.user_id !== me.id) return;
  reads.set(read.conversation_id, read.message_count); // on, or back ("Mark unread")
  renderUnread(read.conversation_id);
}

// "Mark all read" (here or on another page of the account): every mark is read again.
async function markAllRead() {
  if (!window.confirm("Mark every conversation as read for you?")) return;
  try {
    await api("/admin/read-marks/all", { method: "POST" });
  } catch (err) {
    toast("Could not mark them read", err.message, { alert: true });
    return;
  }
  reads.clear(); // every mark moved: those of the rows listed again are read again
  load();
}
function onAllRead({ user_id: userId }) {
  if (userId !== me.id) return;
  reads.clear();
  load();
}

function renderUnread(id) {
  const c = conversations.get(id);
  if (c && f.unread.checked && reads.has(id) && unread(c) === 0) { // read: leaves "Unread"
    conversations.delete(id);
    render();
    return;
  }
  const row = list.querySelector(`.conv-row[data-id="${id}"]`);
  if (row && c) showUnread(row, c);
}

function showUnread(row, c) {
  const count = unread(c);
  const node = row.querySelector(".unread");
  node.hidden = count === 0;
  node.textContent = String(count);
  node.title = `${count} unread`;
}

// -- rendering ---------------------------------------------------------------------------
function renderRow(c) {
  const item = rowTemplate.content.firstElementChild.cloneNode(true);
  const row = item.querySelector(".conv-row");
  const box = item.querySelector(".select-row");
  box.checked = selected.has(c.id);
  box.dataset.id = String(c.id);
  box.setAttribute("aria-label", `Select ${personName(c)}`);
  row.href = `/conversations/${c.id}`;
  row.dataset.id = String(c.id);
  row.classList.toggle("needs-human", c.needs_human);
  platformBadge(row.querySelector(".platform-badge"), c.platform);
  row.querySelector(".name").textContent = personName(c);
  showUnread(row, c);
  showTags(row.querySelector(".row-tags"), c.tags || []);
  showDraft(row, c.id);
  row.querySelector(".preview").textContent = c.last_message_preview || "";
  statusBadge(row.querySelector(".status-badge"), c.status);
  // The person's rating of a closed conversation: an unhappy one stands out in the list.
  const rating = row.querySelector(".row-rating");
  rating.hidden = !c.rating;
  if (c.rating) {
    rating.replaceChildren(el("span", { className: "sr-only", text: "rated " }), `${c.rating}/5`);
    rating.title = c.rating_comment ? `Rated ${c.rating}/5: ${c.rating_comment}` : `Rated ${c.rating}/5`;
    rating.classList.add(c.rating >= 4 ? "rating-good" : c.rating <= 2 ? "rating-bad" : "rating-mixed");
  }
  const badge = row.querySelector(".human-badge");
  badge.hidden = !c.needs_human;
  badge.textContent = c.needs_human ? "needs human" : "";
  badge.title = c.human_reason || "";
  if (c.needs_human && c.human_reason) badge.textContent = `needs human: ${c.human_reason}`;
  const handled = row.querySelector(".handled-badge");
  handled.textContent = handledText(c);
  handled.className = `handled-badge handled-${c.handled_by}`;
  const prio = row.querySelector(".prio");
  prio.textContent = `P${c.priority}`;
  prio.title = `priority ${c.priority} (1 is the highest)`;
  prio.className = `prio prio-${c.priority}`;
  const when = row.querySelector("time");
  const stamp = f.sort.value === "waiting" && c.waiting_since ? c.waiting_since : c.last_message_at;
  when.dateTime = stamp;
  when.dataset.ago = "";
  when.textContent = timeAgo(stamp);
  when.title = new Date(stamp).toLocaleString();
  renderViewing(row, c.id);
  renderHere(row, c.id);
  return item;
}

// A reply this account began in a conversation and has not sent (drafts.js): "Draft" before
// the row's preview, the text on hover; it follows the conversation pages of other tabs, and
// is read again when the browser brings this page back from its history.
let myDrafts = drafts();
function showDraft(row, id) {
  const node = row.querySelector(".row-draft");
  const text = myDrafts.get(id);
  node.hidden = !text;
  node.title = text ? `Your unsent reply: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}` : "";
}
function showDrafts() {
  for (const row of list.querySelectorAll(".conv-row")) showDraft(row, Number(row.dataset.id));
}
onDraftChange((id, text, kind, files, shown) => {
  if (kind) return; // a note's draft: not a reply waiting
  if (shown) myDrafts.set(id, shown);
  else myDrafts.delete(id);
  const row = list.querySelector(`.conv-row[data-id="${id}"]`);
  if (row) showDraft(row, id);
});
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  myDrafts = drafts();
  showDrafts();
});

// A row's tags, before its preview: the first few as chips, the others counted ("+2").
// A click on a chip (inside the row's link) lists that tag's conversations instead of
// opening the row; the Tag filter above is the way to it from the keyboard.
const ROW_TAGS = 2;
function showTags(node, tags) {
  const shown = tags.length > ROW_TAGS + 1 ? tags.slice(0, ROW_TAGS) : tags;
  node.replaceChildren(...shown.map((tag) => el("span", {
    className: "tag", text: tag, title: `Only conversations tagged ${tag}`, dataset: { tag },
  })));
  if (shown.length < tags.length) {
    node.append(el("span", {
      className: "tag tag-more", text: `+${tags.length - shown.length}`,
      title: tags.slice(shown.length).join(", "),
    }));
  }
  node.hidden = tags.length === 0;
}

// -- the Tag filter: the team's tags in use, read as the inbox opens and again when the filter
// is focused once they are a minute old (counting them reads every tagged conversation);
// a tag seen on a row pushed over the socket is added at once (noteTags).
const TAGS_MAX_AGE = 60_000;
let tagsLoading = 0; // a counter, as for the list: an older answer is dropped
let tagsLoadedAt = 0;
async function loadTags() {
  tagsLoadedAt = Date.now();
  const ticket = ++tagsLoading;
  try {
    const { tags } = await api("/admin/tags");
    if (ticket === tagsLoading) setTagOptions(tags.map((t) => t.tag));
  } catch {
    tagsLoadedAt = 0; // the filter keeps the tags it had; asked again with the next list
  }
}
/** The filter's options: these tags (the chosen one always stays, even if no longer in use). */
function setTagOptions(tags) {
  const chosen = f.tag.value;
  const all = [...new Set([...tags, ...(chosen ? [chosen] : [])])].sort();
  f.tag.replaceChildren(f.tag.options[0], ...all.map((tag) => el("option", { value: tag, text: tag })));
  f.tag.value = chosen;
}
/** A tag seen on a row pushed over the socket becomes an option at once. */
function noteTags(tags) {
  const known = new Set([...f.tag.options].map((o) => o.value));
  const fresh = (tags || []).filter((tag) => !known.has(tag));
  if (fresh.length) setTagOptions([...known, ...fresh].filter(Boolean));
}
for (const event of ["focus", "pointerdown"]) {
  f.tag.addEventListener(event, () => {
    if (Date.now() - tagsLoadedAt > TAGS_MAX_AGE) loadTags();
  });
}
function filterByTag(tag) {
  noteTags([tag]);
  f.tag.value = tag;
  pinned.length = 0;
  load();
}
list.addEventListener("click", (e) => {
  const chip = e.target.closest(".row-tags .tag[data-tag]");
  if (!chip) return;
  e.preventDefault(); // not the row's link
  filterByTag(chip.dataset.tag);
});

// Who has each conversation open, from the pages' presence (see Viewers): on its row.
const viewers = new Viewers();
function renderViewing(row, conversationId) {
  const names = viewers.names(conversationId);
  const node = row.querySelector(".row-viewers");
  node.hidden = names.length === 0;
  node.textContent = names.length ? `${nameList(names)} viewing` : "";
  node.title = names.join("\n");
}
function onPresence(data) {
  if (!viewers.take(data)) return;
  const row = list.querySelector(`.conv-row[data-id="${data.conversation_id}"]`);
  if (row) renderViewing(row, data.conversation_id);
}

// Whether each web chat visitor listed is on the site now: the inbox asks the server about
// the open web chat conversations it shows (`visitors`, at most 100, on connecting, when new
// ones are shown and every 25 s); their widgets answer with `visitor.presence`, which this
// page hears from then on (common.js: heardVisitor, visitorHere).
const VISITORS_ASK_EVERY = 25_000;
const VISITORS_ASK_FLOOR = 5_100; // the server drops a socket's questions closer than 5 s
const visitorsHere = new Map(); // conversation id -> Map(widget id -> {open, visible, page, at})
let liveSocket = null;
let visitorsAskedAt = 0;
let visitorsAsked = "";
let visitorsTimer = null;

function shownWebchat() {
  return [...list.querySelectorAll(".conv-row")].map((row) => conversations.get(Number(row.dataset.id)))
    .filter((c) => c && c.platform === "webchat" && c.status !== "closed")
    .slice(0, 100).map((c) => c.id);
}
function askVisitors(force = false) {
  if (!liveSocket?.connected) return;
  const ids = shownWebchat();
  const key = ids.join(",");
  if (!force && key === visitorsAsked) return; // nothing new shown: the heartbeat asks
  clearTimeout(visitorsTimer);
  const wait = visitorsAskedAt + VISITORS_ASK_FLOOR - Date.now();
  if (wait > 0) {
    visitorsTimer = setTimeout(() => askVisitors(true), wait);
    return;
  }
  visitorsAsked = key;
  if (!ids.length) return;
  visitorsAskedAt = Date.now();
  liveSocket.emit("visitors", { conversation_ids: ids });
}
function onVisitorPresence(data) {
  if (typeof data.visitor !== "string" || !Number.isInteger(data.conversation_id)) return;
  const widgets = visitorsHere.get(data.conversation_id) || new Map();
  heardVisitor(widgets, data);
  if (widgets.size) visitorsHere.set(data.conversation_id, widgets);
  else visitorsHere.delete(data.conversation_id);
  const row = list.querySelector(`.conv-row[data-id="${data.conversation_id}"]`);
  if (row) renderHere(row, data.conversation_id);
}
function renderHere(row, conversationId) {
  const node = row.querySelector(".row-here");
  const best = visitorHere(visitorsHere.get(conversationId) || new Map());
  if (!best || conversations.get(conversationId)?.platform !== "webchat") {
    node.hidden = true;
    node.textContent = "";
    return;
  }
  const where = best.page?.title || best.page?.url;
  node.hidden = false;
  node.textContent = "On the site";
  node.dataset.state = best.state;
  node.title = `On the site now · ${best.how}${where ? ` · ${where}` : ""}`;
}

function render(flashId = null) {
  const ids = [...conversations.keys()];
  const pins = pinned.filter((id) => conversations.has(id));
  const rest = ids.filter((id) => !pins.includes(id))
    .map((id) => conversations.get(id)).sort(compare).map((c) => c.id);
  const rows = [...pins, ...rest].map((id) => {
    const item = renderRow(conversations.get(id));
    if (id === flashId) item.querySelector(".conv-row").classList.add("flash-new");
    return item;
  });
  for (const old of list.querySelectorAll(".conv-item")) old.remove();
  list.append(...rows);
  showSelection();
  if (flashId) setTimeout(() => list.querySelector(`.conv-row[data-id="${flashId}"]`)?.classList.remove("flash-new"), 2500);
  emptyNote.hidden = conversations.size > 0;
  emptyFiltered.hidden = !filtering();
  emptyNone.hidden = filtering();
  loadMoreButton.hidden = !nextCursor;
  askVisitors();
}

// -- the keyboard: each row has two stops (its box, its link), so a long list is many Tabs.
// ArrowDown and ArrowUp move to the next or previous row's same control, Home and End to
// the first and last row's; Tab still goes through every stop.
list.addEventListener("keydown", (e) => {
  if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(e.key)) return;
  if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
  const control = e.target.closest?.(".conv-row, .select-row");
  if (!control) return;
  const all = [...list.querySelectorAll(control.matches(".conv-row") ? ".conv-row" : ".select-row")];
  const at = all.indexOf(control);
  const to = e.key === "Home" ? 0 : e.key === "End" ? all.length - 1
    : at + (e.key === "ArrowDown" ? 1 : -1);
  if (to < 0 || to >= all.length || to === at) return;
  e.preventDefault();
  all[to].focus();
});

// -- selecting several: one action on all of them (POST /admin/conversations/bulk) --------
// The selection is kept by id while the list changes live; a conversation that leaves the
// list (filtered out, deleted) leaves the selection.
const selected = new Set();
const bulkBar = document.getElementById("bulk-bar");
const bulkActions = document.getElementById("bulk-actions");
const bulkCount = document.getElementById("bulk-count");
const selectAll = document.getElementById("select-all");
const bulkAssign = document.getElementById("bulk-assign");
const selectMatching = document.getElementById("select-matching");
const SELECT_MAX = 1000; // rows "Select all that match" loads at most
const MATCHING_PAGE = 200;
let selectingAll = false;
function showSelection() {
  for (const id of [...selected]) if (!conversations.has(id)) selected.delete(id);
  bulkBar.hidden = conversations.size === 0;
  bulkActions.hidden = selected.size === 0;
  bulkCount.textContent = selected.size ? `${selected.size} selected` : "Select all shown";
  selectAll.checked = selected.size > 0 && selected.size === conversations.size;
  selectAll.indeterminate = selected.size > 0 && selected.size < conversations.size;
  // Every row shown is selected and more match: offer them all (selectAllMatching).
  selectMatching.hidden = !selectingAll && !(selectAll.checked && nextCursor
    && conversations.size < SELECT_MAX);
}

// "Select all that match": the rest of the list is loaded (pages of MATCHING_PAGE, up to
// SELECT_MAX rows in all) and every row selected, so what is acted on is what is shown.
// A change of the filters meanwhile stops it; past SELECT_MAX the page says so.
async function selectAllMatching() {
  if (selectingAll) return;
  const asked = query().toString();
  selectingAll = true;
  selectMatching.disabled = true;
  selectMatching.textContent = "Selecting…";
  try {
    while (nextCursor && conversations.size < SELECT_MAX && query().toString() === asked) {
      if (!await load({ more: true, limit: MATCHING_PAGE })) return;
      if (query().toString() !== asked) return;
      for (const id of conversations.keys()) selected.add(id);
      for (const box of list.querySelectorAll(".select-row")) box.checked = true;
      selectMatching.textContent = `Selecting… ${conversations.size}`;
    }
    if (nextCursor && query().toString() === asked) {
      toast(`The first ${conversations.size} conversations that match are selected`,
        "Act on them, then select again for the rest.");
    }
  } finally {
    selectingAll = false;
    selectMatching.disabled = false;
    selectMatching.textContent = "Select all that match";
    showSelection();
  }
}
selectMatching.addEventListener("click", selectAllMatching);
list.addEventListener("change", (e) => {
  const box = e.target.closest(".select-row");
  if (!box) return;
  const id = Number(box.dataset.id);
  if (box.checked) selected.add(id);
  else selected.delete(id);
  showSelection();
});
selectAll.addEventListener("change", () => {
  if (selectAll.checked) for (const id of conversations.keys()) selected.add(id);
  else selected.clear();
  for (const box of list.querySelectorAll(".select-row")) box.checked = selected.has(Number(box.dataset.id));
  showSelection();
});
function clearSelection() {
  selected.clear();
  for (const box of list.querySelectorAll(".select-row")) box.checked = false;
  showSelection();
}
document.getElementById("bulk-clear").addEventListener("click", clearSelection);
const BULK_DONE = {
  read: "marked read", close: "closed", reopen: "reopened", assign: "assigned",
  tag: "tagged", untag: "untagged",
};
/** One action on the selection, in requests of 100; true once asked (said in a toast). */
async function bulk(action, extra = {}) {
  const ids = [...selected];
  if (!ids.length) return false;
  if (action === "close" && ids.length > 1
      && !window.confirm(`Close these ${ids.length} conversations?`)) return false;
  const chunks = [];
  for (let i = 0; i < ids.length; i += 100) chunks.push(ids.slice(i, i + 100));
  let done = 0;
  const failed = [];
  try {
    for (const chunk of chunks) {
      const answer = await api("/admin/conversations/bulk",
        { method: "POST", json: { ids: chunk, action, ...extra } });
      done += answer.done.length;
      failed.push(...answer.failed);
    }
  } catch (err) {
    toast("Could not change the selected conversations", err.message, { alert: true });
    return false;
  }
  const said = `${done} conversation${done === 1 ? "" : "s"} ${BULK_DONE[action]}`;
  if (failed.length) {
    const why = failed.slice(0, 3).map((f) => `#${f.id}: ${f.error}`).join("; ");
    toast(`${said}; ${failed.length} could not be`, why, { alert: true });
  } else {
    toast(said);
  }
  clearSelection(); // the rows change as the conversations' events come in
  return true;
}
for (const button of bulkActions.querySelectorAll("button[data-bulk]")) {
  button.addEventListener("click", () => bulk(button.dataset.bulk));
}
// A tag put on every selected conversation, or taken off: typed, or one of the team's (the
// Tag filter's options, offered as the box is focused).
const bulkTag = document.getElementById("bulk-tag");
bulkTag.addEventListener("focus", () => {
  document.getElementById("bulk-tag-options").replaceChildren(
    ...[...f.tag.options].filter((o) => o.value).map((o) => el("option", { value: o.value })));
});
for (const button of bulkActions.querySelectorAll("button[data-bulk-tag]")) {
  button.addEventListener("click", async () => {
    const tag = bulkTag.value.trim();
    if (!tag) {
      bulkTag.focus();
      return;
    }
    if (await bulk(button.dataset.bulkTag, { tag })) bulkTag.value = "";
  });
}
bulkTag.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.isComposing) return;
  e.preventDefault();
  bulkActions.querySelector("button[data-bulk-tag=tag]").click();
});
bulkAssign.addEventListener("change", () => {
  const value = bulkAssign.value;
  bulkAssign.value = "";
  if (!value) return;
  bulk("assign", { user_id: value === "none" ? null : Number(value) });
});

// -- loading -----------------------------------------------------------------------------
/** Read the list (or, `more`, its next page of `limit`): true once shown, false when it
 * failed or newer filters asked again meanwhile. */
async function load({ more = false, limit = PAGE } = {}) {
  const ticket = ++loading;
  const params = query();
  params.set("limit", String(limit));
  if (more && nextCursor) params.set("cursor", nextCursor);
  loadMoreButton.disabled = true;
  try {
    const data = await api(`/admin/conversations?${params}`);
    if (ticket !== loading) return;
    if (!more) {
      conversations.clear();
      if (!tagsLoadedAt) loadTags();
    }
    for (const c of data.conversations) if (!deleted.has(c.id)) conversations.set(c.id, c);
    takeMarks(data.conversations.map((c) => c.id), data.read);
    nextCursor = data.next_cursor;
    render();
    return true;
  } catch (err) {
    toast("Could not load conversations", err.message);
    return false;
  } finally {
    loadMoreButton.disabled = false;
  }
}

async function loadWaiting() {
  const n = await loadWaitingCount();
  if (n !== null) waiting = n;
}

// -- live updates ----------------------------------------------------------------------
function onConversation({ conversation: c, activity: lines }) {
  if (deleted.has(c.id)) return;
  // AUTO_ASSIGN gave it to this account (with this change): said even when the row is not
  // shown, and instead of its "needs a human" alert when this change is that one too.
  const mine = (lines || []).some((a) => a.kind === "assigned" && a.detail?.auto &&
    a.detail.to_id === me.id);
  const before = conversations.get(c.id);
  if (before && Date.parse(c.updated_at) < Date.parse(before.updated_at)) { // overtaken
    if (mine) alertAssigned(c);
    return;
  }
  noteTags(c.tags);
  // Whether this change is the one that made it wait for a human. Without an earlier
  // state (not loaded), the flagging change is the one that set waiting_since to now.
  let wasWaiting = null; // unknown
  if (needsHuman.has(c.id)) wasWaiting = needsHuman.get(c.id);
  else if (before) wasWaiting = before.needs_human;
  else if (c.needs_human) wasWaiting = c.waiting_since !== c.updated_at;
  needsHuman.set(c.id, c.needs_human);
  const startedNeedingHuman = c.needs_human && wasWaiting === false;
  if (wasWaiting === true && !c.needs_human) {
    waiting = Math.max(0, waiting - 1);
    setWaitingCount(waiting);
  }
  let belongs = matches(c);
  // Past the last loaded row, a conversation belongs to a page not loaded yet.
  if (belongs && nextCursor && !before && !startedNeedingHuman) {
    const last = [...conversations.values()].sort(compare).at(-1);
    if (last && compare(c, last) > 0) belongs = false;
  }
  if (!belongs) {
    if (before) {
      conversations.delete(c.id);
      render();
    }
  } else {
    conversations.set(c.id, c);
    askMark(c.id);
    if (startedNeedingHuman) {
      const at = pinned.indexOf(c.id);
      if (at >= 0) pinned.splice(at, 1);
      pinned.unshift(c.id);
    }
    render(startedNeedingHuman || !before ? c.id : null);
  }
  if (startedNeedingHuman) {
    waiting += 1;
    setWaitingCount(waiting);
  }
  if (mine) alertAssigned(c);
  else if (startedNeedingHuman) alertNeedsHuman(c);
}

// A conversation deleted (on any page, or by the retention sweep): its row goes at once,
// and the waiting count with it (the stats' next live update says the same).
function onDeleted(data) {
  const id = data.conversation?.id ?? data.conversation_id;
  deleted.add(id);
  const before = conversations.get(id);
  const wasWaiting = needsHuman.has(id) ? needsHuman.get(id) : before?.needs_human;
  needsHuman.delete(id);
  reads.delete(id);
  unknownMarks.delete(id);
  const at = pinned.indexOf(id);
  if (at >= 0) pinned.splice(at, 1);
  alertedAt.delete(id);
  if (wasWaiting) {
    waiting = Math.max(0, waiting - 1);
    setWaitingCount(waiting);
  }
  if (before) {
    conversations.delete(id);
    render();
  }
  // Its toast, if one still shows, would open a page that is gone.
  document.querySelector(`#toasts [data-key="conv-${id}"]`)?.remove();
}

// A conversation's alert: its toast (one per conversation: a newer alert replaces the one
// showing), the optional sound (once, not again for the same conversation within ALERT_QUIET
// ms: a conversation handed over and assigned a moment later beeps once) and the browser
// notification (the same tag: the newer replaces it).
const ALERT_QUIET = 5000;
const alertedAt = new Map(); // conversation id -> when its last alert sounded
function alertAbout(c, title, text) {
  const open = () => window.location.assign(`/conversations/${c.id}`);
  toast(title, text, { alert: true, onClick: open, key: `conv-${c.id}` });
  const quiet = Date.now() - (alertedAt.get(c.id) ?? -Infinity) < ALERT_QUIET;
  alertedAt.set(c.id, Date.now());
  if (soundOption.checked && !quiet) beep();
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    const note = new Notification(title, { body: text, tag: `conv-${c.id}` });
    note.onclick = () => {
      window.focus();
      open();
    };
  }
}

function alertNeedsHuman(c) {
  alertAbout(c, `${personName(c)} needs a human`, c.human_reason || "flagged for a human");
}

// AUTO_ASSIGN gave this account the conversation: "Assigned to you", which replaces its
// "needs a human" toast if that one still shows (and says why it waits).
function alertAssigned(c) {
  const name = personName(c);
  alertAbout(c, "Assigned to you",
    c.needs_human && c.human_reason ? `${name} needs a human: ${c.human_reason}` : name);
}

// -- controls -----------------------------------------------------------------------------
let searchTimer = null;
f.search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => load(), 300);
});
for (const control of [f.status, f.platform, f.tag, f.sort, f.needsHuman, f.unread]) {
  control.addEventListener("change", () => {
    pinned.length = 0;
    load();
  });
}
// Mine, Unassigned and one account's (the Assigned to list) exclude each other.
f.mine.addEventListener("change", () => {
  if (f.mine.checked) f.unassigned.checked = false;
  if (f.mine.checked) f.assignee.value = "";
  load();
});
f.unassigned.addEventListener("change", () => {
  if (f.unassigned.checked) f.mine.checked = false;
  if (f.unassigned.checked) f.assignee.value = "";
  load();
});
f.assignee.addEventListener("change", () => {
  if (f.assignee.value) f.mine.checked = f.unassigned.checked = false;
  pinned.length = 0;
  load();
});
document.getElementById("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  load();
});
loadMoreButton.addEventListener("click", () => load({ more: true }));
document.getElementById("mark-all-read").addEventListener("click", markAllRead);
document.getElementById("clear-filters").addEventListener("click", () => {
  f.search.value = "";
  f.status.value = "";
  f.platform.value = "";
  f.tag.value = "";
  f.assignee.value = "";
  f.needsHuman.checked = f.mine.checked = f.unassigned.checked = f.unread.checked = false;
  pinned.length = 0;
  load();
});

soundOption.checked = localStorage.getItem("sb.sound") === "1";
soundOption.addEventListener("change", () => {
  localStorage.setItem("sb.sound", soundOption.checked ? "1" : "0");
  if (soundOption.checked) beep();
});
function showNotifyButton() {
  notifyButton.hidden = !("Notification" in window) || Notification.permission !== "default";
}
notifyButton.addEventListener("click", async () => {
  await Notification.requestPermission();
  showNotifyButton();
});
showNotifyButton();

// -- start -------------------------------------------------------------------------------
showNoticeLeft(); // "Conversation deleted", from the page that deleted it
const users = await loadUsers();
for (const u of [...users.values()].filter((u) => !u.disabled)) {
  const label = u.id === me.id ? `${u.email} (you)` : u.email;
  bulkAssign.append(el("option", { value: String(u.id), text: label }));
  f.assignee.append(el("option", { value: String(u.id), text: label }));
}
await load();
loadWaiting();
refreshTimes();
setInterval(() => {
  for (const row of list.querySelectorAll(".conv-row")) {
    renderViewing(row, Number(row.dataset.id));
    renderHere(row, Number(row.dataset.id));
  }
}, 10_000);
setInterval(() => {
  askVisitors(true);
  // Widgets heard of conversations no longer listed, gone since: forgotten.
  for (const [id, widgets] of visitorsHere) if (!visitorHere(widgets)) visitorsHere.delete(id);
}, VISITORS_ASK_EVERY);
connectLive(
  {
    "conversation.created": onConversation,
    "conversation.updated": onConversation,
    "conversation.deleted": onDeleted,
    presence: onPresence,
    "visitor.presence": onVisitorPresence,
    "conversation.read": onRead,
    "conversations.read": onAllRead,
    "stats.updated": ({ stats }) => {
      waiting = stats.conversations_needing_human;
      setWaitingCount(waiting);
    },
  },
  {
    // Who has which conversation open: the pages showing one answer at once (else their
    // next heartbeat, up to 25 s later, would say it).
    onConnect: (socket) => {
      socket.emit("who");
      liveSocket = socket;
      askVisitors(true); // and whether the web chat visitors listed are on the site
    },
    onSync: () => {
      load();
      loadWaiting();
    },
  },
);
document.body.dataset.ready = "inbox";
