// Reply drafts: what an agent has typed in a conversation's reply box (or its note box,
// kind "note") and not sent yet, and the files attached to the reply (uploaded already:
// their descriptions, as the upload answered them, and when), kept in this browser's
// localStorage so that it survives going to another conversation, a reload or a closed tab. Each is the account's own
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

const isFile = (f) => typeof f?.file_id === "string" && typeof f.name === "string" &&
  typeof f.at === "number";

function read(key) {
  try {
    const draft = JSON.parse(storage()?.getItem(key));
    if (typeof draft?.text === "string" && typeof draft.at === "number") {
      draft.files = Array.isArray(draft.files) ? draft.files.filter(isFile) : [];
      return draft;
    }
  } catch {
    /* not ours, or damaged: no draft */
  }
  return null;
}

/** A draft as the inbox shows it: its text, else its files ("📎 quote.pdf +1"). */
function summary(draft) {
  if (!draft) return "";
  if (draft.text.trim() || !draft.files.length) return draft.text;
  const more = draft.files.length - 1;
  return `📎 ${draft.files[0].name}${more ? ` +${more}` : ""}`;
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

/** The files of the account's draft reply uploaded less than `maxAge` ms ago (the server
 * deletes those never sent after UNSENT_FILE_HOURS; 0: no limit). */
export function loadDraftFiles(conversationId, maxAge = 0) {
  const files = read(keyOf(conversationId, ""))?.files ?? [];
  return maxAge ? files.filter((f) => Date.now() - f.at < maxAge) : files;
}

function write(conversationId, kind, text, files) {
  if (!text.trim() && !files.length) {
    clearDraft(conversationId, kind);
    return;
  }
  try {
    storage()?.setItem(keyOf(conversationId, kind), JSON.stringify({ text, files, at: Date.now() }));
  } catch {
    /* storage full or refused: the box still holds the text */
  }
}

/** Keep (or, for blank text and no files, drop) a draft; its files stay as they were. */
export function saveDraft(conversationId, text, kind = "") {
  write(conversationId, kind, text, kind ? [] : loadDraftFiles(conversationId));
}

/** Keep the files attached to the draft reply (each `{file_id, name, at, …}`); its text
 * stays as it was. */
export function saveDraftFiles(conversationId, files) {
  write(conversationId, "", loadDraft(conversationId), files);
}

export function clearDraft(conversationId, kind = "") {
  storage()?.removeItem(keyOf(conversationId, kind));
}

/** The account's reply drafts: conversation id -> what the inbox shows of each. */
export function drafts() {
  const found = new Map();
  for (const key of keys()) {
    const named = parse(key);
    const draft = named && !named[1] ? read(key) : null;
    if (draft) found.set(named[0], summary(draft));
  }
  return found;
}

/** Calls `listener(conversationId, text, kind, files, shown)` when another tab of this
 * browser changes one of the account's drafts ("" and [] when it was sent or emptied;
 * `shown`: what the inbox shows of it). */
export function onDraftChange(listener) {
  window.addEventListener("storage", (event) => {
    const named = parse(event.key);
    if (!named) return;
    const draft = read(event.key);
    listener(named[0], draft?.text ?? "", named[1], draft?.files ?? [], summary(draft));
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
