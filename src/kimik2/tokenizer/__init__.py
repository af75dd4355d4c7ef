"""Kimi-K2's tokenizer from scratch: pre-tokenization, BPE, tiktoken, chat template (course module 13).

The corpus helpers live in ``kimik2.tokenizer.corpus`` (not re-exported here, so that
``python -m kimik2.tokenizer.corpus`` runs the module fresh).
"""

from .bpe import train_bpe, word_counts
from .chat import (DEFAULT_SYSTEM_PROMPT, AssistantReply, ChatTemplateError, ToolCall, ToolCallParseError,
                   encode_chat, parse_completion, parse_completion_text, render_chat_text)
from .encoders import PythonBPE, fast_encoding, replace_lone_surrogates
from .kimi import KimiTokenizer, StreamingDecoder, split_long_text
from .pretokenize import KIMI_PAT_STR, split_words
from .special_tokens import KIMI_SPECIAL_TOKEN_NAMES, NUM_RESERVED_SPECIAL_TOKENS, kimi_special_tokens
from .tiktoken_file import load_ranks, save_ranks

__all__ = [
    "DEFAULT_SYSTEM_PROMPT", "KIMI_PAT_STR", "KIMI_SPECIAL_TOKEN_NAMES", "NUM_RESERVED_SPECIAL_TOKENS",
    "AssistantReply", "ChatTemplateError", "KimiTokenizer", "PythonBPE", "StreamingDecoder", "ToolCall",
    "ToolCallParseError", "encode_chat", "fast_encoding", "kimi_special_tokens", "load_ranks", "parse_completion",
    "parse_completion_text", "render_chat_text", "replace_lone_surrogates", "save_ranks", "split_long_text",
    "split_words", "train_bpe", "word_counts",
]
