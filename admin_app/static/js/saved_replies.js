// Saved replies in the reply box: "/" at its start opens the team's saved replies, filtered
// by what follows it; arrows move, Enter or Tab (or a click) puts the reply in the box for the
// agent to read and send, Escape closes the list (Enter then sends the "/…" text as it is).
// "{first_name}" becomes the person's first name, or "there" when it is not known.
import { api, attachPicker, el } from "./common.js";

const FRESH_MS = 30_000; // an admin's change shows within this, or on the next page load
const SHOWN = 8;
let cache = null; // { at, replies }

async function savedReplies() {
  if (!cache || Date.now() - cache.at > FRESH_MS) {
    const data = await api("/admin/saved-replies");
    cache = { at: Date.now(), replies: data.saved_replies };
  }
  return cache.replies;
}

/** The reply's text for this person. */
export function fill(body, displayName) {
  const first = (displayName || "").trim().split(/\s+/)[0] || "there";
  return body.replaceAll("{first_name}", first);
}

/** Title matches first (those starting with the query before the rest), then text matches. */
function matching(replies, query) {
  const q = query.trim().toLowerCase();
  const rank = (r) => {
    const title = r.title.toLowerCase();
    if (title.startsWith(q)) return 0;
    if (title.includes(q)) return 1;
    return r.body.toLowerCase().includes(q) ? 2 : 3;
  };
  return replies.map((r) => [rank(r), r]).filter(([n]) => n < 3)
    .sort((a, b) => a[0] - b[0]).map(([, r]) => r).slice(0, SHOWN);
}

export function attachSavedReplies(textarea, picker, { displayName, onPick }) {
  let shown = [];
  let active = 0;
  let open = false;
  let dismissed = false; // Escape: closed until the text no longer starts with "/"
  let asked = 0;

  function setOpen(value) {
    open = value;
    picker.hidden = !value;
    if (!value) textarea.removeAttribute("aria-activedescendant");
  }

  function render(message) {
    picker.replaceChildren();
    // In a listbox every item is an option: the message is one that cannot be chosen.
    if (message) {
      picker.append(el("li", {
        className: "saved-empty", text: message, role: "option", "aria-disabled": "true",
      }));
    }
    shown.forEach((r, i) => {
      picker.append(el("li", {
        id: `saved-option-${i}`, role: "option", className: "saved-option",
        "aria-selected": String(i === active), dataset: { index: String(i) },
      }, el("strong", { text: r.title }), el("span", { text: fill(r.body, displayName()) })));
    });
    if (shown.length) textarea.setAttribute("aria-activedescendant", `saved-option-${active}`);
    else textarea.removeAttribute("aria-activedescendant"); // no option left to point at
    picker.querySelector("[aria-selected=true]")?.scrollIntoView({ block: "nearest" });
    setOpen(true);
  }

  async function update() {
    const typed = /^\/([^\n]*)$/.exec(textarea.value);
    if (!typed) dismissed = false;
    if (!typed || dismissed) return setOpen(false);
    const ask = ++asked;
    let replies;
    try {
      replies = await savedReplies();
    } catch (err) {
      shown = [];
      return render(`Could not load the saved replies (${err.message}). Esc to send it as typed.`);
    }
    if (ask !== asked) return; // a newer keystroke is being answered
    shown = matching(replies, typed[1]);
    active = 0;
    const none = !replies.length ? "No saved replies yet: admins add them in Settings."
      : !shown.length ? `No saved reply matches “${typed[1].trim()}”. Esc to send it as typed.`
        : null;
    render(none);
  }

  function pick(reply) {
    textarea.value = fill(reply.body, displayName());
    setOpen(false);
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    onPick?.();
  }

  function handled(e) {
    e.preventDefault();
    e.stopImmediatePropagation(); // before the box's own Enter-sends
  }

  attachPicker(textarea, picker, { close: () => setOpen(false), choose: (i) => pick(shown[i]) });
  textarea.addEventListener("input", update);
  textarea.addEventListener("keydown", (e) => {
    if (!open || e.isComposing) return;
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && shown.length) {
      active = (active + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      render();
      handled(e);
    } else if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
      if (shown.length) pick(shown[active]);
      if (shown.length || e.key === "Enter") handled(e); // no match: Enter waits for Esc
    } else if (e.key === "Escape") {
      dismissed = true;
      setOpen(false);
      handled(e);
    }
  }, true);
}
