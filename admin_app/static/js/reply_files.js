// Files an agent attaches to a reply: chosen with "Attach", pasted or dropped on the reply
// box. Each is uploaded at once (POST /admin/conversations/<id>/files) and shown as a chip
// with its name, size and a remove button; the reply then names the uploaded ones by id.
import { api, el } from "./common.js";

export const MAX_FILES = 5; // as a reply carries at most (admin_app/schemas.py)

export function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * Wire the attach button, the hidden file input, the chip list and the drop zone.
 * `onChange()` is called when the agent adds or takes off a file, and when one has finished
 * uploading; `onError(text)` tells why a file was not taken (too large, empty, or refused by
 * the server). Returns `ids()` (the uploaded files' ids), `uploaded()` (their descriptions,
 * with `at`, when they were uploaded, for the draft), `show(files)` (chips for files
 * uploaded before, e.g. from the draft, in place of those shown), `busy()` (an upload under
 * way) and `clear()`.
 */
export function attachReplyFiles({ conversationId, maxBytes, button, input, list, dropZone, onChange, onError }) {
  const items = []; // { name, size, li, attachment | null, failed }

  function chip(name, size, item) {
    const state = el("span", { className: "reply-file-state", text: "" });
    const drop = el("button", {
      type: "button", className: "reply-file-remove", "aria-label": `Remove ${name}`, text: "×",
    });
    item.li = el("li", { className: "reply-file" },
      el("span", { className: "reply-file-name", text: name }),
      el("span", { className: "reply-file-size", text: fileSize(size) }), state, drop);
    drop.addEventListener("click", () => remove(item));
    items.push(item);
    list.append(item.li);
    render();
    return state;
  }

  function render() {
    list.hidden = items.length === 0;
  }

  function remove(item) {
    const at = items.indexOf(item);
    if (at >= 0) items.splice(at, 1);
    item.li.remove();
    render();
    onChange();
  }

  async function add(file) {
    if (items.length >= MAX_FILES) {
      onError(`A reply carries at most ${MAX_FILES} files.`);
      return;
    }
    if (file.size > maxBytes) {
      onError(`${file.name} is larger than ${fileSize(maxBytes)}, the most a file may be.`);
      return;
    }
    if (file.size === 0) {
      onError(`${file.name} is empty.`);
      return;
    }
    const item = { name: file.name, size: file.size, li: null, attachment: null, failed: false };
    const state = chip(file.name, file.size, item);
    const { li } = item;
    state.textContent = "uploading…";
    li.classList.add("uploading");
    onChange();
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const data = await api(`/admin/conversations/${conversationId}/files`, { method: "POST", form });
      item.attachment = { ...data.attachment, at: Date.now() };
      state.textContent = "";
    } catch (err) {
      item.failed = true;
      state.textContent = "not uploaded";
      li.classList.add("failed");
      onError(`${file.name}: ${err.message}`);
    }
    li.classList.remove("uploading");
    if (item.attachment && items.includes(item)) onChange(); // the draft keeps it now
  }

  function addAll(files) {
    for (const file of files) add(file);
  }

  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addAll([...input.files]);
    input.value = ""; // the same file may be chosen again
  });
  dropZone.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (!files.length) return; // text is pasted as text
    e.preventDefault();
    addAll(files);
  });
  dropZone.addEventListener("dragover", (e) => {
    if (![...(e.dataTransfer?.types || [])].includes("Files")) return;
    e.preventDefault();
    dropZone.classList.add("dropping");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dropping"));
  dropZone.addEventListener("drop", (e) => {
    dropZone.classList.remove("dropping");
    const files = [...(e.dataTransfer?.files || [])];
    if (!files.length) return;
    e.preventDefault();
    addAll(files);
  });

  function clear() {
    for (const item of [...items]) item.li.remove();
    items.length = 0;
    render();
  }

  return {
    ids: () => items.filter((i) => i.attachment).map((i) => i.attachment.file_id),
    uploaded: () => items.filter((i) => i.attachment).map((i) => i.attachment),
    show(files) {
      clear();
      for (const file of files.slice(0, MAX_FILES)) {
        chip(file.name, file.size, { name: file.name, size: file.size, li: null,
                                     attachment: file, failed: false });
      }
    },
    busy: () => items.some((i) => !i.attachment && !i.failed),
    clear,
  };
}
