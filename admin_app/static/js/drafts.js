// Reply drafts: what an agent has typed in a conversation's reply box (or its note box,
// kind "note") and not sent yet, kept in this browser's localStorage so that it survives
// going to another conversation, a reload or a closed tab. Each is the account's own
// ("sb.draft.<account id>.<conversation id>", then ".note" for a note); a
// page of another account drops them (one browser, one account signed in at a time), logging
// out drops the account's, and one untouched for DRAFT_MAX_AGE is dropped too. The server
// never sees them: the person only ever gets what is sent.
// common.js imports this module, so every page of the panel does that upkeep.

const PREFIX = "sb.draft.";
const account = Number(document.body.dataset.userId || 0); // 0: signed out (the login page)
const mine = `${PREFIX}${account}.`;
export const DRAFT_MAX_AGE = 7 * 24 * 3600 * 1000;

function storage() {
  try {
    return window.localStorage; // null, or a throw, where storage is refused
  } catch {
    return null;
  }
}

function read(key) {
  try {
    const draft = JSON.parse(storage()?.getItem(key));
    if (typeof draft?.text === "string" && typeof draft.at === "number") return draft;
  } catch {
    /* not ours, or damaged: no draft */
  }
  return null;
}

function keys() {
  const store = storage();
  const found = [];
  for (let i = 0; store && i < store.length; i += 1) {
    const key = store.key(i);
    if (key?.startsWith(PREFIX)) found.push(key);
  }
  return found;
}

const keyOf = (conversationId, kind) => mine + conversationId + (kind ? `.${kind}` : "");

/** What a key of the account names: [conversation id, kind], or null. */
function parse(key) {
  if (!key?.startsWith(mine)) return null;
  const [id, kind = "", ...rest] = key.slice(mine.length).split(".");
  const number = Number(id);
  return Number.isInteger(number) && number > 0 && !rest.length ? [number, kind] : null;
}

/** The account's draft of a conversation's reply (kind "") or note ("note"), or "". */
export function loadDraft(conversationId, kind = "") {
  return read(keyOf(conversationId, kind))?.text ?? "";
}

/** Keep (or, for blank text, drop) a draft. */
export function saveDraft(conversationId, text, kind = "") {
  if (!text.trim()) {
    clearDraft(conversationId, kind);
    return;
  }
  try {
    storage()?.setItem(keyOf(conversationId, kind), JSON.stringify({ text, at: Date.now() }));
  } catch {
    /* storage full or refused: the box still holds the text */
  }
}

export function clearDraft(conversationId, kind = "") {
  storage()?.removeItem(keyOf(conversationId, kind));
}

/** The account's reply drafts: conversation id -> text. */
export function drafts() {
  const found = new Map();
  for (const key of keys()) {
    const named = parse(key);
    const draft = named && !named[1] ? read(key) : null;
    if (draft) found.set(named[0], draft.text);
  }
  return found;
}

/** Calls `listener(conversationId, text, kind)` when another tab of this browser changes
 * one of the account's drafts ("" when it was sent or emptied). */
export function onDraftChange(listener) {
  window.addEventListener("storage", (event) => {
    const named = parse(event.key);
    if (named) listener(named[0], read(event.key)?.text ?? "", named[1]);
  });
}

function forget(all) {
  const now = Date.now();
  for (const key of keys()) {
    const draft = read(key);
    if (all || !key.startsWith(mine) || !draft || now - draft.at > DRAFT_MAX_AGE) {
      storage()?.removeItem(key);
    }
  }
}

if (account) {
  forget(false);
  // Logging out drops the account's drafts: the next person at this browser sees none.
  document.getElementById("logout")?.form?.addEventListener("submit", () => forget(true));
}
