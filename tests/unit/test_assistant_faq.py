"""The FAQ responder: matching the sample knowledge file, fallbacks, and knowledge-file errors."""

from __future__ import annotations

import json

import pytest

from services.assistant import BotReply, OffResponder, create_responder
from services.assistant.faq import (
    FALLBACK_INTENT,
    FaqEntry,
    FaqResponder,
    KnowledgeFileError,
    load_knowledge,
)
from services.settings import Settings, SettingsError
from tests.support.chat import bot, conversation, user

FALLBACK = "Sorry, could you rephrase?"


@pytest.fixture(scope="module")
def faq() -> FaqResponder:
    """The shipped sample file, the default KNOWLEDGE_FILE."""
    path = Settings.model_fields["knowledge_file"].default
    return FaqResponder.from_file(path, min_score=70, fallback_text=FALLBACK)


def ask(faq: FaqResponder, text: str, *earlier) -> BotReply:
    return faq.reply(conversation(), [*earlier, user(text)])


@pytest.mark.parametrize(
    "text, intent",
    [
        ("What are your opening hours?", "opening_hours"),
        ("how long does shipping take", "shipping"),
        ("Can I get a refund?", "returns"),
        ("where is my order", "order_status"),
        ("Which payment methods do you accept?", "payment_methods"),
        ("What is your phone number?", "contact"),
        ("Hello!", "greeting"),
        ("thank you", "thanks"),
    ],
)
def test_a_question_from_the_file_is_answered_with_high_confidence(faq, text, intent):
    reply = ask(faq, text)
    assert reply.intent == intent
    assert reply.confidence >= 0.9
    assert reply.text == next(e.answer for e in faq.entries if e.intent == intent)


@pytest.mark.parametrize(
    "text, intent",
    [
        ("when do you open tomorrow", "opening_hours"),
        ("are you open on saturdays", "opening_hours"),
        ("do you deliver to france", "shipping"),
        ("I want my money back", "returns"),
        ("how do refunds work", "returns"),
        ("order 12345 hasn't arrived", "order_status"),
        ("can i pay with visa", "payment_methods"),
        ("REFUND", "returns"),
        ("thx", "thanks"),
    ],
)
def test_a_paraphrase_matches_the_right_entry(faq, text, intent):
    reply = ask(faq, text)
    assert reply.intent == intent
    assert 0.7 <= reply.confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    ["the weather is nice", "asdfgh", "what is the meaning of life", "I", "", "???", "raining?"],
)
def test_an_unknown_question_gets_the_fallback_with_low_confidence(faq, text):
    reply = ask(faq, text)
    assert reply.text == FALLBACK
    assert reply.intent == FALLBACK_INTENT
    assert reply.confidence < 0.4  # below the default escalation threshold (0.5)


def test_only_the_latest_user_message_is_matched(faq):
    history = [user("what are your opening hours"), bot("We're open 9-18."), user("asdfgh")]
    assert faq.reply(conversation(), history).intent == FALLBACK_INTENT
    history = [user("asdfgh"), bot(FALLBACK, 0.1), user("how long does shipping take"), bot("…")]
    assert faq.reply(conversation(), history).intent == "shipping"


def test_no_user_message_gives_the_fallback(faq):
    assert faq.reply(conversation(), []).intent == FALLBACK_INTENT


def test_unicode_is_normalised(faq):
    assert ask(faq, "ＷＨＥＲＥ ＩＳ ＭＹ ＯＲＤＥＲ").intent == "order_status"


def test_keywords_raise_the_score_and_the_threshold_decides():
    entry = FaqEntry("shipping", ("how long does delivery take",), "2-4 days", ("parcel",))
    without = FaqEntry("shipping", ("how long does delivery take",), "2-4 days")
    text = "my parcel"
    assert entry.score(text) > without.score(text)
    score = entry.score(text)
    assert FaqResponder([entry], min_score=score).match(text)[1] == score
    at = FaqResponder([entry], min_score=score, fallback_text="?")
    above = FaqResponder([entry], min_score=min(100, score + 1), fallback_text="?")
    assert at.reply(conversation(), [user(text)]).intent == "shipping"  # score == min: a match
    assert above.reply(conversation(), [user(text)]).intent == FALLBACK_INTENT


def test_keywords_match_whole_words_and_their_start():
    entry = FaqEntry("returns", ("return policy",), "30 days", ("refund", "money back"))
    assert entry.score("refunds please") > entry.score("xrefund please")
    assert entry.score("i want my money back") > FaqEntry("r", ("return policy",), "x").score(
        "i want my money back"
    )


def test_a_json_knowledge_file_works(tmp_path):
    path = tmp_path / "kb.json"
    path.write_text(json.dumps([
        {"intent": "hours", "questions": ["when are you open"], "answer": "9 to 5"},
    ]))
    reply = FaqResponder.from_file(path).reply(conversation(), [user("When are you open?")])
    assert (reply.text, reply.intent) == ("9 to 5", "hours")


def test_an_entrys_tags_come_with_its_answer_not_with_the_fallback(tmp_path):
    path = tmp_path / "kb.yaml"
    path.write_text("entries:\n"
                    "  - intent: refunds\n"
                    "    questions: [can I get a refund]\n"
                    "    answer: Within 30 days.\n"
                    "    tags: [Refund, \"billing  issue\", refund]\n")
    faq = FaqResponder.from_file(path, fallback_text=FALLBACK)
    assert faq.reply(conversation(), [user("Can I get a refund?")]).tags == (
        "refund", "billing issue")
    assert faq.reply(conversation(), [user("what is the weather")]).tags == ()


def test_create_responder_builds_the_faq_and_off_responders(settings):  # defaults: faq
    assert isinstance(create_responder(settings), FaqResponder)
    off = create_responder(Settings(_env_file=None, responder="off"))
    assert isinstance(off, OffResponder)
    assert off.reply(conversation(), [user("hi")]) is None


def test_a_bad_knowledge_file_stops_start_up_naming_the_setting(tmp_path):
    bad = Settings(_env_file=None, knowledge_file=tmp_path / "missing.yaml")
    with pytest.raises(SettingsError, match=r"^Invalid setting KNOWLEDGE_FILE: .*file not found"):
        create_responder(bad)


# -- knowledge file errors: which entry, which field -----------------------------------------

GOOD = {"intent": "hours", "questions": ["when are you open"], "answer": "9 to 5"}


def write(tmp_path, content, name="kb.yaml"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    "entries, message",
    [
        ([GOOD, {**GOOD, "intent": "x", "answer": None}],
         r"entry 2 \('x'\): field 'answer' is missing"),
        ([{k: v for k, v in GOOD.items() if k != "intent"}], r"entry 1: field 'intent' is missing"),
        ([{**GOOD, "questions": []}],
         r"entry 1 \('hours'\): field 'questions' must be a non-empty list"),
        ([{**GOOD, "questions": "when"}], r"field 'questions' must be a non-empty list of strings"),
        ([{**GOOD, "questions": ["ok", 3]}], r"field 'questions', item 2 must be a string"),
        ([{**GOOD, "keywords": "x"}], r"field 'keywords' must be a list of strings"),
        ([{**GOOD, "keywords": ["!!"]}], r"field 'keywords', item 1 must be a string with letters"),
        ([{**GOOD, "answer": "  "}], r"field 'answer' must be a non-empty string"),
        ([{**GOOD, "keyword": ["x"]}], r"entry 1 \('hours'\): unknown field 'keyword'"),
        ([{**GOOD, "tags": "vip"}], r"entry 1 \('hours'\): field 'tags' must be a list of"),
        ([{**GOOD, "tags": ["ok", "no;way"]}],
         r"field 'tags' item 2 \('no;way'\): a tag holds only letters, digits"),
        ([{**GOOD, "tags": [f"t{n}" for n in range(21)]}], r"field 'tags' holds more than 20 tags"),
        ([GOOD, GOOD], r"entry 2 \('hours'\): intent 'hours' is already used by entry 1"),
        (["just a string"], r"entry 1: must be a mapping"),
        ([], r"expected a non-empty list of entries"),
    ],
)
def test_an_invalid_entry_names_the_entry_and_the_field(tmp_path, entries, message):
    path = write(tmp_path, {"entries": entries}, "kb.json")
    with pytest.raises(KnowledgeFileError, match=message) as info:
        load_knowledge(path)
    assert str(info.value).startswith("kb.json: ")


def test_yaml_syntax_errors_give_the_line(tmp_path):
    path = write(tmp_path, "entries:\n  - intent: hours\n    questions: [when\n    answer: x\n")
    with pytest.raises(KnowledgeFileError, match=r"kb.yaml: not valid YAML at line \d+"):
        load_knowledge(path)


def test_json_syntax_errors_give_the_line(tmp_path):
    path = write(tmp_path, '{"entries": [\n  {"intent": }\n]}', "kb.json")
    with pytest.raises(KnowledgeFileError, match=r"kb.json: not valid JSON at line 2, column"):
        load_knowledge(path)


def test_other_file_problems(tmp_path):
    with pytest.raises(KnowledgeFileError, match="use a .yaml, .yml or .json file"):
        load_knowledge(write(tmp_path, "x", "kb.txt"))
    with pytest.raises(KnowledgeFileError, match="file not found"):
        load_knowledge(tmp_path / "nope.yml")
    with pytest.raises(KnowledgeFileError, match="expected a non-empty list of entries"):
        load_knowledge(write(tmp_path, ""))
    with pytest.raises(KnowledgeFileError, match="unknown top-level key 'entry'"):
        load_knowledge(write(tmp_path, "entry: []\n"))


def test_an_empty_fallback_text_stops_start_up():
    with pytest.raises(SettingsError, match="^Invalid setting BOT_FALLBACK_TEXT: must not be empty"):
        create_responder(Settings(_env_file=None, bot_fallback_text="  "))
    with pytest.raises(ValueError):
        FaqResponder([FaqEntry("a", ("b",), "c")], fallback_text="")


def test_an_agent_is_offered_the_closest_entries_best_first(faq):
    from services.assistant.faq import MAX_SUGGESTIONS, SUGGESTION_MIN_SCORE

    near = faq.closest("my lamp arrived broken, I want my money back")
    assert [e.intent for e, _ in near] == ["returns"]  # a near miss (the bot answers at 70)
    assert SUGGESTION_MIN_SCORE <= near[0][1] < 70
    found = faq.closest("where is my parcel??")
    assert [e.intent for e, _ in found][:2] == ["order_status", "shipping"]
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert faq.closest("the weather is nice today") == []  # nothing in common
    assert faq.closest("  !! ") == []
    assert len(faq.closest("order", floor=0)) == MAX_SUGGESTIONS
    assert len(faq.closest("order", limit=1, floor=0)) == 1


def test_equal_scores_keep_the_files_order():
    entries = [FaqEntry(intent=f"e{i}", questions=("same question",), answer=f"a{i}")
               for i in range(4)]
    faq = FaqResponder(entries)
    assert [e.intent for e, _ in faq.closest("same question")] == ["e0", "e1", "e2"]
