"""Kimi's special tokens: 256 reserved ids right after the base vocabulary (course module 13).

Kimi-K2's ``tiktoken.model`` holds 163,584 mergeable tokens (ids 0 .. 163583). The next 256
ids are special: they never come out of BPE, only from the chat template or from text that
explicitly allows them. Their names below are placed at an *offset* from the number of base
tokens, so a small course-trained vocabulary gets the same layout: with 4,096 base tokens
[BOS] is 4096, <|im_end|> is 4098, and so on. Offsets without a name are called
``<|reserved_token_{id}|>`` with the absolute id (Kimi: 163589 -> ``<|reserved_token_163589|>``).

The ids (Kimi-K2: 163584 + offset) are from the tokenizer_config.json tables quoted in
reference/architecture.md section 10.
"""

from __future__ import annotations

NUM_RESERVED_SPECIAL_TOKENS = 256
KIMI_NUM_BASE_TOKENS = 163_584

NAMED_SPECIAL_TOKEN_OFFSETS = {
    "[BOS]": 0,
    "[EOS]": 1,
    "<|im_end|>": 2,
    "<|im_user|>": 3,
    "<|im_assistant|>": 4,
    "<|start_header_id|>": 6,
    "<|end_header_id|>": 7,
    "[EOT]": 9,
    "<|im_system|>": 10,
    "<|tool_calls_section_begin|>": 11,
    "<|tool_calls_section_end|>": 12,
    "<|tool_call_begin|>": 13,
    "<|tool_call_argument_begin|>": 14,
    "<|tool_call_end|>": 15,
    "<|im_middle|>": 17,
    "[UNK]": 254,
    "[PAD]": 255,
}
KIMI_SPECIAL_TOKEN_NAMES = tuple(NAMED_SPECIAL_TOKEN_OFFSETS)


def kimi_special_tokens(num_base_tokens: int) -> dict[str, int]:
    """{name: id} for the 256 special ids that follow ``num_base_tokens`` mergeable tokens."""
    # BEGIN SOLUTION lesson_71
    name_at = {offset: name for name, offset in NAMED_SPECIAL_TOKEN_OFFSETS.items()}
    ids = range(num_base_tokens, num_base_tokens + NUM_RESERVED_SPECIAL_TOKENS)
    return {name_at.get(i - num_base_tokens, f"<|reserved_token_{i}|>"): i for i in ids}
    # END SOLUTION
