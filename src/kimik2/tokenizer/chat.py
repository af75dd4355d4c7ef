"""Kimi-K2-Instruct's chat template: conversations to ids, completions back to tool calls (course module 13).

A conversation is a list of OpenAI-style messages (dicts):
``{"role": "system" | "user" | "assistant" | "tool", "content": str | None}``, plus an optional
``"name"``, ``"tool_calls"`` on assistant messages and ``"tool_call_id"`` on tool results.
Each message becomes one turn, with no separator between turns::

    <|im_user|>user<|im_middle|>What is the weather in Paris?<|im_end|>

- The opening marker is <|im_user|> for users, <|im_assistant|> for the assistant and
  <|im_system|> for everything else; the label after it is the message's ``name``, or its role.
- If ``tools`` are given, the first turn declares them:
  ``<|im_system|>tool_declare<|im_middle|>[...JSON...]<|im_end|>``. The JSON has every dict's
  keys sorted (as Kimi's tokenizer does before rendering) and ", " / ": " separators.
- If the conversation does not start with a system message, the default one is added:
  ``<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|>``
  followed by a newline - a quirk of the template's whitespace that the real prompt has.
- An assistant turn with tool calls: its content, then ``<|tool_calls_section_begin|>``, per
  call ``<|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>{JSON}<|tool_call_end|>``,
  then ``<|tool_calls_section_end|>``. A call without an id gets ``functions.NAME:IDX``, IDX
  counting the calls of that message from 0, as in the examples of Kimi's tool-call guide.
  (The llama.cpp copies of the template count across the whole conversation, from 0 or from 1
  depending on the copy; pass explicit ids to follow one of them.)
- A tool result: ``<|im_system|>NAME<|im_middle|>## Return of functions.NAME:IDX\\n{content}<|im_end|>``.
- The generation prompt ``<|im_assistant|>assistant<|im_middle|>`` ends the prompt; the model
  writes the rest of that turn. There is no [BOS].

Which version: the updated Kimi-K2-Instruct template (default system prompt "You are Kimi, an
AI assistant created by Moonshot AI.", plain JSON tool list), as llama.cpp ships it in
``models/templates/Kimi-K2-Instruct.jinja``. It was rendered with Hugging Face's Jinja
settings to check the strings above.

Special-token safety: markers are inserted as special ids, and every piece of text (content,
names, arguments) is encoded as plain text, so a user who types "<|im_end|>" cannot end a turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .kimi import KimiTokenizer
from .special_tokens import KIMI_SPECIAL_TOKEN_NAMES

DEFAULT_SYSTEM_PROMPT = "You are Kimi, an AI assistant created by Moonshot AI."
ROLE_MARKERS = {"system": "<|im_system|>", "user": "<|im_user|>", "assistant": "<|im_assistant|>",
                "tool": "<|im_system|>"}
IM_MIDDLE, IM_END = "<|im_middle|>", "<|im_end|>"
SECTION_BEGIN, SECTION_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
CALL_BEGIN, ARGUMENT_BEGIN, CALL_END = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"
END_OF_TURN = {IM_END, "[EOS]"}
TOOL_CALL_ID = re.compile(r"functions\.(?P<name>[A-Za-z0-9_-]+):(?P<index>\d+)")

Piece = tuple[str, bool]            # (text, is_special_marker)


class ChatTemplateError(ValueError):
    """A conversation the template cannot render; the message says which message and what to change."""


class ToolCallParseError(ValueError):
    """An assistant completion whose tool-call section is malformed."""


# ----------------------------------------------------------------------------- rendering

def _deep_sorted(value: Any) -> Any:
    """Dicts with sorted keys, recursively (Kimi sorts the tool schemas before rendering)."""
    if isinstance(value, Mapping):
        return {key: _deep_sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_deep_sorted(item) for item in value]
    return value


def _json_object_text(arguments: Any, where: str) -> str:
    """Tool-call arguments as the JSON text the template writes: a str verbatim, a dict dumped."""
    if isinstance(arguments, Mapping):
        return json.dumps(arguments, ensure_ascii=False)
    if isinstance(arguments, str):
        try:
            if isinstance(json.loads(arguments), dict):
                return arguments
        except json.JSONDecodeError:
            pass
    raise ChatTemplateError(f"{where}: arguments must be a dict or a JSON object string, got {arguments!r}")


def _tool_call_ids(message: Mapping, where: str) -> list[tuple[str, str]]:
    """(id, arguments JSON) of each call of an assistant message; missing ids get functions.NAME:IDX."""
    calls = message["tool_calls"]
    if not isinstance(calls, Sequence) or isinstance(calls, str):
        raise ChatTemplateError(f"{where}: tool_calls must be a list of calls")
    rendered = []
    for index, call in enumerate(calls):
        at = f"{where}, tool call {index}"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ChatTemplateError(f"{at}: write it as {{'function': {{'name': ..., 'arguments': {{...}}}}}}")
        name = function["name"]
        call_id = call.get("id") or f"functions.{name}:{index}"
        match = TOOL_CALL_ID.fullmatch(call_id)
        if not match or match["name"] != name:
            raise ChatTemplateError(f"{at}: id {call_id!r} should be 'functions.{name}:<index>' "
                                    "(or leave the id out to have it generated)")
        rendered.append((call_id, _json_object_text(function.get("arguments", {}), at)))
    return rendered


def render_chat_pieces(messages: Sequence[Mapping], tools: Sequence[Mapping] | None = None,
                       add_generation_prompt: bool = True) -> list[Piece]:
    """The rendered conversation as (text, is_marker) pieces, in order."""
    pieces: list[Piece] = []

    def turn(marker: str, label: str, *texts: Piece) -> None:
        pieces.extend([(marker, True), (label, False), (IM_MIDDLE, True), *texts, (IM_END, True)])

    for number, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ChatTemplateError(f"messages[{number}]: a message is a dict like {{'role': 'user', 'content': ...}}, "
                                    f"got {type(message).__name__}")
        if not isinstance(message.get("name", ""), str):
            raise ChatTemplateError(f"messages[{number}]: name must be a str")
    # BEGIN SOLUTION lesson_72
    if tools:
        turn("<|im_system|>", "tool_declare", (json.dumps(_deep_sorted(list(tools)), ensure_ascii=False), False))
    if messages and messages[0].get("role") != "system":
        turn("<|im_system|>", "system", (DEFAULT_SYSTEM_PROMPT, False))
        pieces.append(("\n", False))
    unanswered_calls: list[str] = []
    for number, message in enumerate(messages):
        where = f"messages[{number}]"
        role = message.get("role")
        if role not in ROLE_MARKERS:
            raise ChatTemplateError(f"{where}: role {role!r} is not one of {sorted(ROLE_MARKERS)}")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise ChatTemplateError(f"{where}: content must be a str or None, got {type(content).__name__}")
        if message.get("tool_calls") and role != "assistant":
            raise ChatTemplateError(f"{where}: only assistant messages can have tool_calls")
        body: list[Piece] = []
        if role == "assistant" and message.get("tool_calls"):
            calls = _tool_call_ids(message, where)
            body += [(content or "", False), (SECTION_BEGIN, True)]
            for call_id, arguments in calls:
                body += [(CALL_BEGIN, True), (call_id, False), (ARGUMENT_BEGIN, True), (arguments, False),
                         (CALL_END, True)]
            body.append((SECTION_END, True))
            unanswered_calls += [call_id for call_id, _ in calls]
        elif role == "tool":
            call_id = message.get("tool_call_id") or (unanswered_calls[0] if unanswered_calls else None)
            if call_id not in unanswered_calls:
                raise ChatTemplateError(f"{where}: tool result for {call_id!r}, but the unanswered tool calls "
                                        f"are {unanswered_calls}; set tool_call_id to one of them")
            unanswered_calls.remove(call_id)
            body.append((f"## Return of {call_id}\n{content or ''}", False))
        elif content is not None:
            body.append((content, False))
        turn(ROLE_MARKERS[role], message.get("name") or role, *body)
    if add_generation_prompt:
        pieces += [("<|im_assistant|>", True), ("assistant", False), (IM_MIDDLE, True)]
    return [(text, special) for text, special in pieces if text]
    # END SOLUTION


def render_chat_text(messages: Sequence[Mapping], tools: Sequence[Mapping] | None = None,
                     add_generation_prompt: bool = True) -> str:
    """The prompt as one string, the way the Jinja template prints it (for reading, not encoding)."""
    return "".join(text for text, _ in render_chat_pieces(messages, tools, add_generation_prompt))


def encode_chat(tokenizer: KimiTokenizer, messages: Sequence[Mapping], tools: Sequence[Mapping] | None = None,
                add_generation_prompt: bool = True) -> list[int]:
    """The prompt as ids: markers as special ids, every run of text between them as plain text."""
    ids: list[int] = []
    text_run = ""
    for text, special in render_chat_pieces(messages, tools, add_generation_prompt):
        if special:
            ids += tokenizer.encode(text_run) + [tokenizer.token_id(text)]
            text_run = ""
        else:
            text_run += text
    return ids + tokenizer.encode(text_run)


# ----------------------------------------------------------------------------- parsing

@dataclass(frozen=True)
class ToolCall:
    id: str                 # functions.NAME:IDX
    name: str
    arguments: str          # the JSON object text the model wrote (json.loads it to call the tool)


@dataclass(frozen=True)
class AssistantReply:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)

    def as_message(self) -> dict:
        """The reply as an assistant message, ready to append to the conversation."""
        message: dict = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [{"id": call.id, "type": "function",
                                      "function": {"name": call.name, "arguments": call.arguments}}
                                     for call in self.tool_calls]
        return message


def completion_pieces(tokenizer: KimiTokenizer, ids: Sequence[int]) -> list[Piece]:
    """Generated ids -> (text, is_marker) pieces; only special ids count as markers."""
    pieces: list[Piece] = []
    text_ids: list[int] = []
    for i in list(ids) + [None]:
        if i is None or i in tokenizer.special_names:
            if text_ids:
                pieces.append((tokenizer.decode(text_ids), False))
                text_ids = []
            if i is not None:
                pieces.append((tokenizer.special_names[i], True))
        else:
            text_ids.append(i)
    return pieces


_MARKER_TEXT = re.compile("(" + "|".join(map(re.escape, KIMI_SPECIAL_TOKEN_NAMES)) + ")")


def text_pieces(text: str) -> list[Piece]:
    """A completion given as text -> pieces; here every special-token string counts as a marker."""
    return [(part, bool(n % 2)) for n, part in enumerate(_MARKER_TEXT.split(text)) if part]


def parse_tool_call(call_id: str, arguments: str) -> ToolCall:
    """Check one call's id and arguments text; ToolCallParseError says what is wrong."""
    # BEGIN SOLUTION lesson_73
    call_id, arguments = call_id.strip(), arguments.strip()
    match = TOOL_CALL_ID.fullmatch(call_id)
    if not match:
        raise ToolCallParseError(f"tool call id {call_id!r} is not of the form functions.NAME:INDEX")
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        raise ToolCallParseError(f"tool call {call_id}: arguments are not valid JSON ({error}): "
                                 f"{arguments[:200]!r}") from None
    if not isinstance(parsed, dict):
        raise ToolCallParseError(f"tool call {call_id}: arguments must be a JSON object, got {arguments[:200]!r}")
    return ToolCall(call_id, match["name"], arguments)
    # END SOLUTION


def _describe(pieces: Sequence[Piece]) -> str:
    return " ".join(text if special else "<text>" for text, special in pieces) or "nothing"


def parse_assistant(pieces: Sequence[Piece]) -> AssistantReply:
    """What the model wrote after the generation prompt -> its content and tool calls.

    Accepted: ``content [<|tool_calls_section_begin|> call* <|tool_calls_section_end|>] [<|im_end|>]``
    with ``call = <|tool_call_begin|> id <|tool_call_argument_begin|> json <|tool_call_end|>``,
    whitespace allowed between calls and after the section. Anything else raises
    ToolCallParseError; nothing is dropped silently.
    """
    # BEGIN SOLUTION lesson_73
    ends = [n for n, (text, special) in enumerate(pieces) if special and text in END_OF_TURN]
    if ends:
        rest = pieces[ends[0] + 1:]
        if rest:
            raise ToolCallParseError(f"{_describe(rest)} after {pieces[ends[0]][0]}; a reply ends at its first one")
        pieces = pieces[:ends[0]]
    starts = [n for n, (text, special) in enumerate(pieces) if special and text == SECTION_BEGIN]
    content, section = (pieces[:starts[0]], pieces[starts[0] + 1:]) if starts else (pieces, [])
    markers = [text for text, special in content if special]
    if markers:
        raise ToolCallParseError(f"unexpected {markers[0]} in the assistant's content (before any tool-call section)")
    if not starts:
        return AssistantReply("".join(text for text, _ in content))

    closing = [n for n, (text, special) in enumerate(section) if special and text == SECTION_END]
    if not closing:
        raise ToolCallParseError(f"the tool-call section is never closed by {SECTION_END} (truncated output?)")
    after = section[closing[0] + 1:]
    if any(special or text.strip() for text, special in after):
        raise ToolCallParseError(f"{_describe(after)} after {SECTION_END}; only {IM_END} may follow it")
    section = [(text, special) for text, special in section[:closing[0]] if special or text.strip()]
    calls = []
    for start in range(0, len(section), 5):
        group = section[start:start + 5]
        shape = [text if special else None for text, special in group]
        if shape != [CALL_BEGIN, None, ARGUMENT_BEGIN, None, CALL_END]:
            raise ToolCallParseError(f"tool call {len(calls)} reads {_describe(group)}; expected "
                                     f"{CALL_BEGIN} <id> {ARGUMENT_BEGIN} <json> {CALL_END}")
        calls.append(parse_tool_call(group[1][0], group[3][0]))
    return AssistantReply("".join(text for text, _ in content), calls)
    # END SOLUTION


def parse_completion(tokenizer: KimiTokenizer, ids: Sequence[int]) -> AssistantReply:
    """Generated ids (after the generation prompt) -> content and tool calls."""
    return parse_assistant(completion_pieces(tokenizer, ids))


def parse_completion_text(text: str) -> AssistantReply:
    """A completion as decoded text -> content and tool calls (special-token strings read as markers)."""
    return parse_assistant(text_pieces(text))
