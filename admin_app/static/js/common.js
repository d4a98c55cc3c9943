// What every admin page shares: the JSON API client, the live socket, formatting, toasts.
// Everything from a conversation is put in the page with textContent, never as HTML.
import "./drafts.js"; // every page keeps the reply drafts tidy (and drops them at log out)

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";
const body = document.body;

export const me = {
  id: Number(body.dataset.userId || 0),
  email: body.dataset.userEmail || "",
  role: body.dataset.userRole || "",
  autoAssign: body.dataset.autoAssign === "true", // AUTO_ASSIGN on: the availability toggles
  // AUTO_ASSIGN_ONLINE_ONLY: conversations go only to accounts with a page open (`online`).
  onlineOnly: body.dataset.onlineOnly === "true",
};

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Call the admin JSON API with the session cookie (and the CSRF token on changes). */
export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  // A FormData body (a file upload) sets its own multipart Content-Type.
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: form !== undefined ? form : json === undefined ? undefined : JSON.stringify(json),
  });
  if (response.status === 401) {
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    throw new ApiError("signed out", 401);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    /* not JSON */
  }
  if (!response.ok || !data || data.success === false) {
    throw new ApiError((data && data.error) || `request failed (${response.status})`, response.status);
  }
  return data;
}

/** Build an element: el("span", {className: "x", text: "…"}, child, …). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const PLATFORMS = { messenger: "Messenger", webchat: "Web chat" };
export function platformBadge(node, platform) {
  node.textContent = PLATFORMS[platform] || platform;
  node.className = `platform-badge platform-${platform}`;
}
/** What to call a conversation's person: their name, else a short label from their platform
 * id (the full id is on the conversation page's Person card). */
export function personName(c) {
  if (c.display_name) return c.display_name;
  // A web chat customer the site vouched for (identity verification): their e-mail.
  if (c.profile?.verified && typeof c.profile.email === "string") return c.profile.email;
  const label = c.platform === "messenger" ? "Messenger user" : "Visitor";
  const id = c.external_user_id || "";
  return id ? `${label} ${id.slice(-6)}` : label;
}
export function statusBadge(node, status) {
  node.textContent = status;
  node.className = `status-badge status-${status}`;
}

const usersById = new Map();
let usersLoaded = null;
/** Every account (id → {email, role, available, online}), fetched once per page (the
 * availability kept current, and `online` read again on each socket reconnect: see the
 * availability toggles below). */
export function loadUsers() {
  usersLoaded ||= api("/admin/users").then((data) => {
    for (const u of data.users) usersById.set(u.id, u);
    return usersById;
  }).catch(() => usersById);
  return usersLoaded;
}
export function userName(id) {
  if (!id) return "";
  if (id === me.id) return "you";
  return usersById.get(id)?.email || `#${id}`;
}

/**
 * Who else has which conversation open, from the /admin socket's `presence` events: every
 * page showing one says so again every 25 s, so a viewer not heard from for PRESENCE_FORGET
 * ms has gone (its server may have stopped without a word).
 */
export const PRESENCE_FORGET = 75_000;
export class Viewers {
  constructor() {
    this.byConversation = new Map(); // conversation id -> Map(viewer id -> { name, seen })
  }

  /** Take an event; false for this account's own pages (its other tabs are not "else"). */
  take(data) {
    if (data.user_id === me.id) return false;
    let here = this.byConversation.get(data.conversation_id);
    if (data.viewing) {
      if (!here) this.byConversation.set(data.conversation_id, (here = new Map()));
      here.set(data.viewer, { name: data.name || userName(data.user_id), seen: Date.now() });
    } else {
      here?.delete(data.viewer);
    }
    return true;
  }

  /** Their names, each once (two tabs of one account are one name), sorted. */
  names(conversationId) {
    const here = this.byConversation.get(conversationId);
    if (!here) return [];
    const now = Date.now();
    for (const [viewer, v] of here) if (now - v.seen > PRESENCE_FORGET) here.delete(viewer);
    if (here.size === 0) this.byConversation.delete(conversationId);
    return [...new Set([...here.values()].map((v) => v.name))].sort();
  }
}

// -- whether a web chat visitor is on the site (conversation.js, inbox.js) -------------------
// The person's widgets answer a page's question (visitor.query) with `visitor.presence`,
// and say when they go; one not heard from for VISITOR_GONE_AFTER (its process died, or the
// network) counts as gone.
const VISITOR_GONE_AFTER = 60_000;

/** Take a `visitor.presence` into `widgets` (the widget's opaque id -> {open, visible, page,
 * at}); true when it said the last of them went. */
export function heardVisitor(widgets, data) {
  if (data.online) {
    widgets.set(data.visitor, {
      open: data.open === true, visible: data.visible === true, page: data.page, at: Date.now(),
    });
    return false;
  }
  return widgets.delete(data.visitor) && widgets.size === 0;
}

/** The widget that says most (the tab in front with the chat open, then one in front, then
 * any), with `state` and `how` in words, after forgetting those not heard from for too long
 * (`gone(at)`: the last of them went, heard last at `at`); null when none is left. */
export function visitorHere(widgets, gone = () => {}) {
  for (const [id, w] of widgets) {
    if (Date.now() - w.at > VISITOR_GONE_AFTER) {
      widgets.delete(id);
      if (widgets.size === 0) gone(new Date(w.at));
    }
  }
  const all = [...widgets.values()];
  const best = all.find((w) => w.open && w.visible) || all.find((w) => w.visible) || all[0];
  if (!best) return null;
  const open = best.open && best.visible;
  return {
    ...best,
    state: open ? "chat-open" : best.visible ? "on-site" : "background",
    how: open ? "chat open" : best.visible ? "chat closed" : "site in the background",
  };
}

/** "ann", "ann and bob", "ann and 2 others". */
export function nameList(names) {
  return names.length <= 2 ? names.join(" and ") : `${names[0]} and ${names.length - 1} others`;
}

/** "bot" or "human · ann@…" */
export function handledText(conversation) {
  if (conversation.handled_by !== "human") return "bot";
  const who = userName(conversation.assigned_to);
  return who ? `human · ${who}` : "human";
}

export function timeAgo(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h`;
  const days = Math.round(hours / 24);
  return days < 60 ? `${days} d` : new Date(iso).toLocaleDateString();
}
export function clockTime(iso) {
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Keep every <time data-ago> on the page current. */
export function refreshTimes() {
  for (const node of document.querySelectorAll("time[data-ago]")) {
    node.textContent = timeAgo(node.dateTime);
  }
}
setInterval(refreshTimes, 30_000);

/** At most this many toasts show at once: a busy minute must not bury the page under them. */
const MAX_TOASTS = 3;

/**
 * A short notice in the corner. A toast with a `key` replaces the one showing with the same
 * key (one per conversation, not one per event); past MAX_TOASTS the oldest goes.
 */
export function toast(title, text, { alert = false, onClick, timeout = 7000, key } = {}) {
  const box = document.getElementById("toasts");
  if (!box) return;
  if (key !== undefined) {
    for (const old of [...box.children]) if (old.dataset.key === String(key)) old.remove();
  }
  const node = el("div", { className: "toast" + (alert ? " toast-alert" : ""), role: "status" },
    el("strong", { text: title }), text ? el("span", { text }) : null);
  if (key !== undefined) node.dataset.key = String(key);
  node.addEventListener("click", () => {
    node.remove();
    onClick?.();
  });
  box.append(node);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  setTimeout(() => node.remove(), timeout);
}

/**
 * A list of choices a textarea opens as one types (saved replies, teammates to name): the
 * box keeps the focus (a click on the list does not take it), leaving the box closes the
 * list, and a click on an option (`data-index`) chooses it. A textarea may not be a combobox
 * (nor say aria-expanded): the list it controls and its active option are what assistive
 * technology is told.
 */
export function attachPicker(textarea, picker, { close, choose }) {
  textarea.setAttribute("aria-controls", picker.id);
  textarea.setAttribute("aria-autocomplete", "list");
  textarea.addEventListener("blur", () => setTimeout(close, 150));
  picker.addEventListener("mousedown", (e) => e.preventDefault()); // keep the box focused
  picker.addEventListener("click", (e) => {
    const option = e.target.closest("[data-index]");
    if (option) choose(Number(option.dataset.index));
  });
}

/**
 * A toast for the next page this tab opens ("Conversation deleted", once the conversation
 * page has gone back to the inbox): kept in sessionStorage until that page shows it.
 */
const NOTICE_KEY = "sb.notice";
export function noticeForNextPage(title, text) {
  try {
    sessionStorage.setItem(NOTICE_KEY, JSON.stringify({ title, text }));
  } catch {
    /* storage blocked: no notice */
  }
}
/** Show the toast the previous page left for this one, if any (once). */
export function showNoticeLeft() {
  let notice = null;
  try {
    notice = JSON.parse(sessionStorage.getItem(NOTICE_KEY));
    sessionStorage.removeItem(NOTICE_KEY);
  } catch {
    return;
  }
  if (notice?.title) toast(String(notice.title), notice.text ? String(notice.text) : "");
}

/**
 * Whether anybody is using this page: after IDLE_AFTER_SECONDS (the body's data-idle-after)
 * with no key, click, pointer, wheel or touch, and no return to the tab, the socket says
 * `idle` `{"idle": true}`, and `{"idle": false}` at the next input: an account whose every
 * page is idle stops counting as online (auto-assignment passes it over). A socket that
 * (re)connects says it in its `auth`.
 */
let pageIdle = false;
function watchIdle(socket) {
  const idleAfter = Number(body.dataset.idleAfter || 0) * 1000;
  if (!(idleAfter > 0)) return;
  let lastInput = Date.now();
  const used = () => {
    lastInput = Date.now();
    if (pageIdle) {
      pageIdle = false;
      socket.emit("idle", { idle: false });
    }
  };
  for (const type of ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"]) {
    window.addEventListener(type, used, { capture: true, passive: true });
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") used();
  });
  setInterval(() => {
    if (!pageIdle && Date.now() - lastInput >= idleAfter) {
      pageIdle = true;
      socket.emit("idle", { idle: true });
    }
  }, Math.max(250, Math.min(idleAfter / 4, 15_000)));
}

/**
 * The live connection to /admin. `handlers` maps event names to functions; `onSync` runs
 * on every (re)connect — the page re-fetches what it shows, so nothing missed while the
 * socket was down stays missing.
 */
export function connectLive(handlers, { onSync, onConnect, rooms = [] } = {}) {
  const status = document.getElementById("live-status");
  const setState = (state, title) => {
    if (!status) return;
    status.dataset.state = state;
    status.title = `Live updates: ${title}`;
  };
  if (typeof window.io !== "function") {
    setState("disconnected", "unavailable");
    return null;
  }
  const socket = window.io("/admin", {
    transports: ["websocket", "polling"],
    withCredentials: true,
    auth: (send) => send({ idle: pageIdle }), // read at each (re)connect
  });
  watchIdle(socket);
  let connectedBefore = false;
  socket.on("connect", () => {
    setState("connected", "connected");
    for (const room of rooms) socket.emit("join", room);
    onConnect?.(socket);
    if (connectedBefore) onSync?.();
    syncAvailability(); // what changed before the socket listened (or while it was down)
    connectedBefore = true;
  });
  socket.on("disconnect", () => setState("disconnected", "reconnecting…"));
  socket.on("connect_error", (err) => {
    setState("disconnected", err?.message || "refused");
  });
  for (const [name, handler] of Object.entries(handlers)) socket.on(name, handler);
  socket.on("store.status", showStoreStatus);
  socket.on("account.available", onAccountAvailable);
  socket.on("account.online", onAccountOnline);
  socket.on("hours.changed", ({ hours }) => showTeamHours(hours ?? null));
  socket.on("note.mentioned", onMentioned);
  window.__adminSocket = socket; // for the browser tests
  return socket;
}

/**
 * A teammate named this account in a note ("@bob"): every page it has open says so; a click
 * on the toast opens the conversation (`note.mentioned`, sent to the account's pages only).
 */
function onMentioned({ by, conversation: c, note }) {
  if (!c || !note) return;
  const text = note.detail?.text || "";
  const title = `${by} mentioned you`;
  const body = `${personName(c)}: ${text.length > 140 ? `${text.slice(0, 140)}…` : text}`;
  const open = () => window.location.assign(`/conversations/${c.id}`);
  toast(title, body, { key: `mention-${note.id}`, timeout: 20_000, onClick: open });
  // A tab in the background also shows a system notification once notifications are on
  // (the inbox's "Enable notifications"); its tag makes the account's pages show one.
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    const shown = new Notification(title, { body, tag: `mention-${note.id}` });
    shown.onclick = () => {
      window.focus();
      open();
    };
  }
}

/**
 * The "store unavailable" banner (rendered by base.html on page load): shown while the
 * store is down, with how many messages wait in the spool to be saved.
 */
export function showStoreStatus(status) {
  const banner = document.getElementById("store-banner");
  if (!banner || !status) return;
  banner.hidden = Boolean(status.available);
  const count = banner.querySelector(".store-banner-count");
  if (count && Number.isInteger(status.spooled)) count.textContent = String(status.spooled);
}

/**
 * How many conversations wait for a human: the nav's Inbox badge on every page, and the tab
 * title ("(3) Inbox · Switchboard") unless `title` is false (the conversation page's title
 * is the person's name).
 */
const baseTitle = document.title;
export function setWaitingCount(n, { title = true } = {}) {
  if (title) document.title = n > 0 ? `(${n}) ${baseTitle}` : baseTitle;
  const badge = document.getElementById("nav-waiting");
  if (badge) {
    badge.textContent = String(n);
    badge.hidden = !(n > 0);
  }
}

/**
 * Read the waiting count once (the live `stats.updated` events keep it after); returns it,
 * or null when it could not be read.
 */
export async function loadWaitingCount(options) {
  try {
    const n = (await api("/admin/stats")).stats.conversations_needing_human;
    setWaitingCount(n, options);
    return n;
  } catch {
    return null; // the count is a nicety
  }
}

/** A short two-tone beep (Web Audio; no sound file to serve). */
export function beep() {
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.connect(gain);
    gain.connect(ctx.destination);
    gain.gain.value = 0.08;
    osc.frequency.setValueAtTime(880, ctx.currentTime);
    osc.frequency.setValueAtTime(660, ctx.currentTime + 0.12);
    osc.start();
    osc.stop(ctx.currentTime + 0.25);
    osc.onended = () => ctx.close();
  } catch {
    /* no audio */
  }
}

/**
 * The topbar's "Away · back tomorrow at 09:00 CET" pill (base.html renders it from the
 * business hours): it follows each opening and closing without a reload, reading the hours
 * again (GET /chat/hours) a few seconds after each, spread over 10 s across pages, and a
 * change of the hours on Settings at once (`hours.changed`, `showTeamHours`).
 */
let showTeamHours = () => {};
function watchHours() {
  let pill = document.getElementById("hours-pill");
  let timer = null;
  const show = (hours) => {
    clearTimeout(timer);
    if (!pill && hours && !hours.open) { // the hours were set since the page was rendered
      pill = document.createElement("span");
      pill.className = "hours-pill";
      pill.id = "hours-pill";
      pill.title = "Outside the business hours: people handed to the team are told when it is back";
      document.querySelector(".topbar-right")?.prepend(pill);
    }
    if (!pill) return;
    pill.hidden = !hours || hours.open;
    if (hours && !hours.open) {
      pill.textContent = hours.next_open_text ? `Away · back ${hours.next_open_text}` : "Away";
    }
    const at = hours && Date.parse(hours.open ? hours.closes_at : hours.next_open);
    if (!at) return;
    const wait = Math.max(1000, at - Date.now()) + 1000 + Math.random() * 10000;
    timer = setTimeout(async () => {
      try {
        const response = await fetch("/chat/hours", { cache: "no-store" });
        show((await response.json()).hours);
      } catch {
        show(hours); // offline: try again at the same moment's next check
      }
    }, Math.min(wait, 6 * 3600 * 1000)); // a long wait is checked again every 6 hours
  };
  showTeamHours = show;
  if (!pill) return;
  try {
    show(JSON.parse(pill.dataset.hours));
  } catch {
    /* no status: the pill stays as rendered */
  }
}
watchHours();

/**
 * Whether an account takes new conversations (AUTO_ASSIGN): the top bar's Available / Away
 * toggle of the signed-in account (base.html) and, on Settings, one per account (admins).
 * Each is a button[data-availability-user] with aria-pressed, rendered with the state at
 * load; a click PUTs the account's availability (shown at once; put back, with a toast, when
 * refused). Every page follows the socket's `account.available` (another tab or device, an
 * admin on Settings) and reads them all again as its socket (re)connects; `onAvailability`
 * tells a page's own script (the conversation page's assign list), also when an account
 * comes online (`account.online`) or is read again offline on a reconnect.
 */
const availabilityListeners = [];
export function onAvailability(listener) {
  availabilityListeners.push(listener);
}
const availabilityHeard = new Map(); // user id -> events heard: an answer older than one is dropped
const availabilityAsked = new Set(); // user ids whose change is on its way

function availabilityButtons(userId) {
  return document.querySelectorAll(`button[data-availability-user="${userId}"]`);
}
function showAvailability(userId, available) {
  for (const button of availabilityButtons(userId)) {
    // The name stays "Available" (what pressing it means); aria-pressed and the style say
    // whether it is on, so a screen reader never hears "Away, not pressed".
    button.setAttribute("aria-pressed", String(available));
  }
}
function takeAvailability(userId, available) {
  const user = usersById.get(userId);
  if (user) user.available = available;
  showAvailability(userId, available);
  for (const listener of availabilityListeners) listener(userId, available);
}

function onAccountAvailable({ user_id: userId, available }) {
  availabilityHeard.set(userId, (availabilityHeard.get(userId) || 0) + 1);
  takeAvailability(userId, Boolean(available));
}

function onAccountOnline({ user_id: userId, online }) {
  const user = usersById.get(userId);
  if (!user || user.online === Boolean(online)) return;
  user.online = Boolean(online);
  for (const listener of availabilityListeners) listener(userId, user.available);
}

async function syncAvailability() {
  if (!me.autoAssign) return;
  const heard = new Map(availabilityHeard);
  let users;
  try {
    users = (await api("/admin/users")).users;
  } catch {
    return; // the toggles keep what they show; the next event or reconnect says more
  }
  for (const u of users) {
    const stored = usersById.get(u.id);
    if (stored && stored.online !== u.online) {
      stored.online = u.online; // no event says so: read again here
      for (const listener of availabilityListeners) listener(u.id, stored.available);
    }
    const since = (availabilityHeard.get(u.id) || 0) !== (heard.get(u.id) || 0);
    if (since || availabilityAsked.has(u.id)) continue; // a change since says more than this
    const shown = availabilityButtons(u.id)[0]?.getAttribute("aria-pressed");
    const known = usersById.get(u.id)?.available;
    if (known !== u.available || (shown && shown !== String(u.available))) {
      takeAvailability(u.id, u.available);
    }
  }
}

async function toggleAvailability(button) {
  const userId = Number(button.dataset.availabilityUser);
  if (!userId || availabilityAsked.has(userId)) return; // one change at a time
  const before = button.getAttribute("aria-pressed") === "true";
  const heard = availabilityHeard.get(userId) || 0;
  const fresh = () => (availabilityHeard.get(userId) || 0) === heard; // no event since
  availabilityAsked.add(userId);
  for (const b of availabilityButtons(userId)) b.setAttribute("aria-busy", "true");
  showAvailability(userId, !before);
  try {
    const { user } = await api(`/admin/users/${userId}/availability`, {
      method: "PUT", json: { available: !before },
    });
    if (fresh()) takeAvailability(userId, user.available);
  } catch (err) {
    if (fresh()) showAvailability(userId, before);
    const whose = userId === me.id ? "your" : `${usersById.get(userId)?.email || "the account"}'s`;
    toast(`Could not change ${whose} availability`, err.message, { alert: true });
  } finally {
    availabilityAsked.delete(userId);
    for (const b of availabilityButtons(userId)) b.removeAttribute("aria-busy");
  }
}
document.addEventListener("click", (event) => {
  const button = event.target.closest?.("button[data-availability-user]");
  if (button) toggleAvailability(button);
});
