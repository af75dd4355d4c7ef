"""Graded tests for lesson 73: parse_tool_call and parse_assistant in tokenizer/chat.py."""

import importlib
import random

import pytest

SB, SE = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
CB, AB, CE = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"
END = "<|im_end|>"


def chat(module):
    return importlib.import_module(module.__name__ + ".tokenizer.chat")


def call(call_id="functions.f:0", arguments='{"a": 1}', end=CE):
    return f"{CB}{call_id}{AB}{arguments}{end}"


def section(*calls, end=SE):
    return SB + "".join(calls) + end


def test_parse_tool_call_reads_id_name_and_arguments(impl):
    module = chat(impl)
    got = module.parse_tool_call("  functions.get_weather:12\n", ' {"city": "北京"} ')
    assert got == module.ToolCall("functions.get_weather:12", "get_weather", '{"city": "北京"}'), (
        f"parse_tool_call gave {got}: strip whitespace, take the name from the id, return the arguments TEXT "
        "(teaching.md §The code)")
    assert module.parse_tool_call("functions.a-b_c9:0", "{}").name == "a-b_c9"


@pytest.mark.parametrize("call_id, arguments", [
    ("f", '{"a": 1}'), ("functions.f", '{"a": 1}'), ("functions.f:x", '{"a": 1}'), ("functions.f:0junk", '{"a": 1}'),
    ("function.f:0", '{"a": 1}'), ("functions.f:0", "{a: 1}"), ("functions.f:0", '{"a": 1'), ("functions.f:0", "[1]"),
    ("functions.f:0", '"text"'), ("functions.f:0", "42"), ("functions.f:0", ""),
], ids=["bare name", "no index", "letter index", "trailing junk", "function.", "unquoted key", "cut JSON", "array",
        "string", "number", "empty"])
def test_parse_tool_call_rejects_bad_ids_and_arguments(impl, call_id, arguments):
    module = chat(impl)
    with pytest.raises(module.ToolCallParseError):
        module.parse_tool_call(call_id, arguments)
        pytest.fail(f"parse_tool_call({call_id!r}, {arguments!r}) returned instead of raising ToolCallParseError: "
                    "the id must fully match functions.NAME:INDEX and the arguments be a JSON object "
                    "(teaching.md §The code)")


@pytest.mark.parametrize("completion, content, n_calls", [
    ("Just text.", "Just text.", 0),
    ("Just text." + END, "Just text.", 0),
    ("Bye.[EOS]", "Bye.", 0),
    ("Checking." + section(call(), "\n  ", call("functions.g:1", '{"b": [1, 2]}')) + "\n" + END, "Checking.", 2),
    (section(call()), "", 1),
    ("Nothing to do." + section() + END, "Nothing to do.", 0),
], ids=["text", "text + im_end", "eos", "two calls with whitespace", "no content", "empty section"])
def test_parse_assistant_accepts_well_formed_replies(impl, reference, completion, content, n_calls):
    got = chat(impl).parse_completion_text(completion)
    want = chat(reference).parse_completion_text(completion)
    assert (got.content, len(got.tool_calls)) == (content, n_calls), (
        f"{completion!r} parsed to content {got.content!r} with {len(got.tool_calls)} calls, expected {content!r} "
        f"with {n_calls} (teaching.md §The code)")
    assert got == want


@pytest.mark.parametrize("completion", [
    section(call(), end=""),
    section(call(arguments='{"a": 1', end=""), end=""),
    section(call(arguments="{a: 1}")),
    section(call(arguments="[1]")),
    section(call(call_id="f")),
    section(call(), "oops", call()),
    section(call(end="")),
    section(call()) + "more text",
    section(call()) + SB + SE,
    "text " + call(),
    "text" + CE,
    "done" + END + "extra",
    "done" + END + END,
    section(CB + AB + '{"a": 1}' + CE),
], ids=["never closed", "truncated JSON", "bad JSON", "array arguments", "bad id", "text between calls",
        "missing call end", "text after section", "second section", "call outside section", "stray marker",
        "text after im_end", "two im_end", "missing id"])
def test_parse_assistant_rejects_every_malformed_reply(impl, completion):
    module = chat(impl)
    with pytest.raises(module.ToolCallParseError):
        reply = module.parse_completion_text(completion)
        pytest.fail(f"{completion!r} was accepted as {reply}; every malformed completion must raise "
                    "ToolCallParseError (teaching.md §Every malformed completion is an error)")


def test_random_completions_agree_with_reference(impl, reference):
    parts = [SB, SE, CB, AB, CE, END, "functions.f:0", "functions.g:1", '{"a": 1}', "[1]", "x", " ", "\n", "f"]
    rng = random.Random(0)
    for _ in range(400):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 9)))
        outcomes = []
        for module in (chat(impl), chat(reference)):
            try:
                outcomes.append(module.parse_completion_text(text))
            except module.ToolCallParseError:
                outcomes.append("ToolCallParseError")
        assert outcomes[0] == outcomes[1], (f"{text!r}: got {outcomes[0]}, the answer key gives {outcomes[1]} "
                                            "(teaching.md §The code)")


def test_render_then_parse_is_the_identity(impl):
    tokenizer = importlib.import_module(impl.__name__ + ".tokenizer")
    module = chat(impl)
    tok = tokenizer.KimiTokenizer({bytes([b]): b for b in range(256)})
    reply = module.AssistantReply("Let me check both.", [
        module.ToolCall("functions.get_weather:0", "get_weather", '{"city": "北京"}'),
        module.ToolCall("functions.get_time:1", "get_time", '{"zone": "UTC+8"}')])
    conversation = [{"role": "user", "content": "Weather and time in 北京?"}, reply.as_message()]
    full = tokenizer.encode_chat(tok, conversation, add_generation_prompt=False)
    prompt = tokenizer.encode_chat(tok, conversation[:1])
    assert full[:len(prompt)] == prompt
    parsed = module.parse_completion(tok, full[len(prompt):])
    assert parsed == reply, f"render -> parse gave {parsed}, expected {reply} (teaching.md §Worked example)"
    assert module.parse_completion_text(tok.decode(full[len(prompt):])) == reply


def test_typed_markers_in_ids_stay_content(impl):
    tokenizer = importlib.import_module(impl.__name__ + ".tokenizer")
    tok = tokenizer.KimiTokenizer({bytes([b]): b for b in range(256)})
    ids = tok.encode("I print <|tool_call_begin|> literally.") + [tok.token_id(END)]
    reply = chat(impl).parse_completion(tok, ids)
    assert reply == chat(impl).AssistantReply("I print <|tool_call_begin|> literally."), (
        f"got {reply}: marker TEXT written with ordinary ids is content, not a marker (teaching.md §From ids to pieces)")
