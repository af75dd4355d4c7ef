"""Lesson 73: parsing Kimi-K2's tool calls back out of a completion.

Run: python code_snippets.py   (about 3 s; needs the corpus: `make data`; writes tool_call_grammar.png)
"""
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kimik2.tokenizer import (AssistantReply, KimiTokenizer, ToolCall, ToolCallParseError, encode_chat,  # noqa: E402
                              parse_completion, parse_completion_text, train_bpe)
from kimik2.tokenizer.chat import completion_pieces, parse_tool_call  # noqa: E402
from kimik2.tokenizer.corpus import load_corpus  # noqa: E402

HERE = Path(__file__).parent
REPO = Path(__file__).resolve().parents[3]
tok = KimiTokenizer(train_bpe(load_corpus(REPO / "data")[:200_000], 1024))

# 1. Round trip: render a reply with two tool calls, cut off the prompt, parse the completion.
reply = AssistantReply("Let me check both.", [ToolCall("functions.get_weather:0", "get_weather", '{"city": "北京"}'),
                                               ToolCall("functions.get_time:1", "get_time", '{"zone": "UTC+8"}')])
conversation = [{"role": "user", "content": "Weather and time in 北京?"}, reply.as_message()]
full = encode_chat(tok, conversation, add_generation_prompt=False)
prompt = encode_chat(tok, conversation[:1])
completion = full[len(prompt):]
print(f"prompt {len(prompt)} ids is a prefix of the full conversation: {full[:len(prompt)] == prompt}; "
      f"completion {len(completion)} ids")
print("completion as text:", tok.decode(completion))
print("completion pieces:", completion_pieces(tok, completion)[:6], "...")
parsed = parse_completion(tok, completion)
print("parsed:", parsed)
print("round trip equal:", parsed == reply, "| as_message:", json.dumps(parsed.as_message(), ensure_ascii=False)[:120])

# 2. One call's id and arguments.
print(parse_tool_call(" functions.get_weather:0 ", ' {"city": "Paris"} '))

# 3. Every malformed completion is an error, with a reason.
call = '<|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{"a": 1}<|tool_call_end|>'
bad = {
    "section never closed": "<|tool_calls_section_begin|>" + call,
    "JSON cut off": '<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{"a": 1',
    "arguments not JSON": "<|tool_calls_section_begin|>" + call.replace('{"a": 1}', "{a: 1}") + "<|tool_calls_section_end|>",
    "arguments a list": "<|tool_calls_section_begin|>" + call.replace('{"a": 1}', "[1]") + "<|tool_calls_section_end|>",
    "bad id": "<|tool_calls_section_begin|>" + call.replace("functions.f:0", "f") + "<|tool_calls_section_end|>",
    "text between calls": "<|tool_calls_section_begin|>" + call + "oops" + call + "<|tool_calls_section_end|>",
    "text after section": "<|tool_calls_section_begin|>" + call + "<|tool_calls_section_end|>more",
    "marker in content": "Sure " + call,
    "text after <|im_end|>": "done<|im_end|>extra",
}
for name, text in bad.items():
    try:
        parse_completion_text(text)
        print(f"{name:22} parsed?!")
    except ToolCallParseError as error:
        print(f"{name:22} ToolCallParseError: {str(error)[:110]}")

# 4. What a findall-style regex extractor does with the same inputs (no errors, calls vanish).
CALL = re.compile(r"<\|tool_call_begin\|>\s*([\w.]+:\d+)\s*<\|tool_call_argument_begin\|>\s*(.*?)\s*<\|tool_call_end\|>",
                  re.DOTALL)
for name in ("section never closed", "bad id", "text between calls", "arguments not JSON"):
    found = CALL.findall(bad[name])
    print(f"regex findall on {name!r}: {found}")

# 5. Typed markers: as ids they stay text; as decoded text they cannot be told apart.
typed = tok.encode("I print <|tool_call_begin|> literally.")
print("from ids: ", parse_completion(tok, typed))
try:
    parse_completion_text(tok.decode(typed))
except ToolCallParseError as error:
    print("from text:", "ToolCallParseError:", error)

# 6. Replies without tool calls, and [EOS] as an end of turn.
print(parse_completion(tok, tok.encode("Just text.") + [tok.token_id("<|im_end|>")]))
print(parse_completion_text("Bye.[EOS]"))

# Figure: the grammar of an assistant completion.
boxes = [("content\n(text)", "tab:blue"), ("<|tool_calls_\nsection_begin|>", "tab:orange"),
         ("<|tool_call_\nbegin|>", "tab:orange"), ("id\nfunctions.\nNAME:IDX", "tab:blue"),
         ("<|tool_call_\nargument_begin|>", "tab:orange"), ("arguments\n(JSON object)", "tab:blue"),
         ("<|tool_call_\nend|>", "tab:orange"), ("<|tool_calls_\nsection_end|>", "tab:orange"),
         ("<|im_end|>\nor [EOS]\n(optional)", "tab:orange")]
fig, ax = plt.subplots(figsize=(11.5, 3.3))
xs = [k * 1.3 for k in range(len(boxes))]
for x, (label, color) in zip(xs, boxes):
    ax.add_patch(plt.Rectangle((x, 0), 1.12, 0.8, color=color, alpha=0.25))
    ax.text(x + 0.56, 0.4, label, ha="center", va="center", fontsize=7.5, family="DejaVu Sans Mono")
for a, b in zip(xs, xs[1:]):
    ax.annotate("", xy=(b, 0.4), xytext=(a + 1.12, 0.4), arrowprops={"arrowstyle": "->"})
ax.annotate("", xy=(xs[2] + 0.56, 0.82), xytext=(xs[6] + 0.56, 0.82),
            arrowprops={"arrowstyle": "->", "connectionstyle": "arc3,rad=0.25"})
ax.text((xs[2] + xs[6]) / 2 + 0.56, 1.62, "next call (whitespace between calls allowed)", ha="center", fontsize=8)
ax.annotate("", xy=(xs[7] + 0.56, 0.82), xytext=(xs[1] + 0.56, 0.82),
            arrowprops={"arrowstyle": "->", "connectionstyle": "arc3,rad=-0.12", "color": "0.5"})
ax.text(xs[7] + 0.2, 1.12, "empty section: allowed", ha="center", fontsize=7.5, color="0.4")
ax.annotate("", xy=(xs[8] + 0.56, -0.02), xytext=(xs[0] + 0.56, -0.02),
            arrowprops={"arrowstyle": "->", "connectionstyle": "arc3,rad=0.12"})
ax.text((xs[0] + xs[8]) / 2 + 0.56, -0.95, "no tool calls: content, then the end of the turn", ha="center", fontsize=8)
ax.set_xlim(-0.1, xs[-1] + 1.25)
ax.set_ylim(-1.1, 1.85)
ax.axis("off")
ax.set_title("What parse_assistant accepts (orange: special ids, blue: text); anything else is a ToolCallParseError",
             fontsize=10)
fig.tight_layout()
fig.savefig(HERE / "tool_call_grammar.png", dpi=110)
print("wrote tool_call_grammar.png")
