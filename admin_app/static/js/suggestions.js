// Suggested answers: the FAQ bot's knowledge entries closest to the person's latest message
// (GET /admin/conversations/<id>/suggestions), shown above the reply box while an agent is
// the one answering (the conversation needs a human, or a human handles it) and until an
// agent has answered that message. A click puts the entry's answer in the reply box (after
// what is typed there), to send as it is or changed; nothing is sent by itself.
import { api, el } from "./common.js";

/**
 * `box`: the reply box; `strip`: the container (hidden when there is nothing to offer) with
 * its list `items`; `state()`: { conversation, messages } as the page has them; `onUse()`:
 * called after an answer was put in the box. Returns `refresh()` (read them again: on load,
 * on a new message of the person, on a reconnect) and `update()` (show or hide what was read,
 * as the conversation or its messages change).
 */
export function attachSuggestions({ conversationId, box, strip, items, state, onUse }) {
  let found = { message_id: null, suggestions: [] };
  let timer = null;

  function answered() { // an agent has replied since the person's message
    const { messages } = state();
    for (const m of messages.values()) {
      if (m.sender_type === "agent" && m.id > found.message_id) return true;
    }
    return false;
  }

  function update() {
    const { conversation } = state();
    const agentsTurn = conversation && conversation.status !== "closed" &&
      (conversation.needs_human || conversation.handled_by === "human");
    strip.hidden = !(agentsTurn && found.suggestions.length && !answered());
  }

  function use(suggestion) {
    const typed = box.value.trimEnd();
    box.value = typed ? `${typed}\n${suggestion.answer}` : suggestion.answer;
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    onUse();
  }

  function render() {
    items.replaceChildren(...found.suggestions.map((s) => {
      const button = el("button", {
        type: "button", className: "suggestion",
        title: `${s.answer}\n\n(${s.intent}: "${s.question}", ${Math.round(s.score)}% close)`,
      }, el("span", { className: "suggestion-intent", text: s.intent.replaceAll("_", " ") }),
      el("span", { className: "suggestion-answer", text: s.answer }));
      button.addEventListener("click", () => use(s));
      return el("li", {}, button);
    }));
    update();
  }

  async function read() {
    try {
      const data = await api(`/admin/conversations/${conversationId}/suggestions`);
      found = data.available ? data : { message_id: null, suggestions: [] };
    } catch {
      found = { message_id: null, suggestions: [] }; // a help, not the page: say nothing
    }
    render();
  }

  return {
    refresh() {
      clearTimeout(timer);
      timer = setTimeout(read, 250); // a burst of messages: read once
    },
    update,
  };
}
