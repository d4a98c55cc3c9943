// Naming a teammate in a note: "@" then the start of their e-mail opens a list of the team's
// accounts (not one's own, nor a disabled one), filtered as one types; arrows move, Enter or
// Tab (or a click) writes "@bob " (the whole e-mail when another account shares "bob"),
// Escape closes it. The server tells the accounts a note names (note.mentioned).
import { attachPicker, el, loadUsers, me } from "./common.js";

const SHOWN = 6;
const TYPED = /(?:^|[^\w@.])@([\w.+-]*)$/; // "@" and what follows it, just before the caret

/** What a note writes for the account: the part before its "@" when no other has it. */
function handle(user, users) {
  const local = user.email.split("@")[0].toLowerCase();
  const shared = users.filter((u) => u.email.split("@")[0].toLowerCase() === local).length;
  return shared > 1 ? user.email : user.email.split("@")[0];
}

export function attachMentions(textarea, picker) {
  let shown = [];
  let users = [];
  let active = 0;
  let open = false;
  let typed = null; // { start, query }: where the "@…" being written begins

  function setOpen(value) {
    open = value;
    picker.hidden = !value;
    if (!value) textarea.removeAttribute("aria-activedescendant");
  }

  function render() {
    picker.replaceChildren(...shown.map((u, i) => el("li", {
      id: `mention-option-${i}`, role: "option", className: "saved-option",
      "aria-selected": String(i === active), dataset: { index: String(i) },
    }, el("strong", { text: `@${handle(u, users)}` }), el("span", { text: u.email }))));
    if (shown.length) textarea.setAttribute("aria-activedescendant", `mention-option-${active}`);
    setOpen(shown.length > 0);
  }

  async function update() {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = TYPED.exec(before);
    if (!match || textarea.selectionStart !== textarea.selectionEnd) {
      typed = null;
      return setOpen(false);
    }
    typed = { start: before.length - match[1].length - 1, query: match[1].toLowerCase() };
    const all = [...(await loadUsers()).values()];
    users = all;
    shown = all.filter((u) => !u.disabled && u.id !== me.id
      && u.email.toLowerCase().startsWith(typed.query)).slice(0, SHOWN);
    active = 0;
    render();
  }

  function pick(user) {
    if (!typed) return;
    const written = `@${handle(user, users)} `;
    const end = typed.start + 1 + typed.query.length;
    textarea.value = textarea.value.slice(0, typed.start) + written + textarea.value.slice(end);
    const caret = typed.start + written.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    setOpen(false);
    textarea.dispatchEvent(new Event("input")); // the note's draft keeps it
  }

  function handled(e) {
    e.preventDefault();
    e.stopImmediatePropagation(); // before the box's own keys (Ctrl+Enter adds the note)
  }

  attachPicker(textarea, picker, { close: () => setOpen(false), choose: (i) => pick(shown[i]) });
  textarea.addEventListener("input", update);
  textarea.addEventListener("click", update);
  textarea.addEventListener("keydown", (e) => {
    if (!open || e.isComposing) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      active = (active + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      render();
      handled(e);
    } else if ((e.key === "Enter" && !e.shiftKey && !e.ctrlKey && !e.metaKey) || e.key === "Tab") {
      pick(shown[active]);
      handled(e);
    } else if (e.key === "Escape") {
      setOpen(false);
      handled(e);
    }
  }, true);
}
