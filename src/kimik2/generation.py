"""Generating text: sampling one token from logits, and the cached decoding loop (course module 14,
lessons 77-79).

``generate`` runs the prompt once, then one token per step against the cache. Batched prompts are
left-padded: positions come from the attention mask (cumsum - 1, as transformers'
prepare_inputs_for_generation derives them), so every row sees the positions it would see alone.
Decoding speed comes from the model's MLA mode: ``model.set_mla_mode("absorbed")`` attends over the
latent cache (576 values per token per layer at Kimi-K2's sizes instead of 20480).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .model import KimiK2ForCausalLM
from .tokenizer import AssistantReply, KimiTokenizer, encode_chat, parse_completion


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise ValueError naming the sampling setting that is out of range."""
    if temperature < 0:
        raise ValueError(f"temperature={temperature}: use 0 for greedy decoding or a positive value to sample")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k}: keep at least 1 token, or pass None to keep them all")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p}: must be in (0, 1]; 1 keeps every token")


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf every logit outside the top_k, then outside the smallest set of tokens whose
    probability adds up to at least top_p (the most likely token always stays): (b, V) -> (b, V)."""
    # BEGIN SOLUTION lesson_78
    if top_k is not None and top_k < logits.shape[-1]:
        kth_best = logits.topk(top_k, dim=-1).values[:, -1:]                     # (b, 1)
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        mass_before = sorted_logits.softmax(dim=-1).cumsum(dim=-1) - sorted_logits.softmax(dim=-1)
        drop_sorted = mass_before >= top_p                                        # the set is full already
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits
    # END SOLUTION


def sample_next_token(logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None,
                      top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Next token per row from the last position's logits (b, V): greedy when temperature is 0,
    else a draw from softmax(logits / temperature) restricted by top_k and top_p. -> (b,) int64."""
    check_sampling(temperature, top_k, top_p)
    # BEGIN SOLUTION lesson_78
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
    # END SOLUTION


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of every token of a left-padded batch: (b, s) 0/1 mask -> (b, s), counting real tokens
    from 0 (cumsum - 1, as transformers' prepare_inputs_for_generation); pads get 0, they are masked."""
    # BEGIN SOLUTION lesson_77
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)
    # END SOLUTION


def next_step_inputs(attention_mask: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """After a step, the mask grows by one real token per row and the new token's position is one
    past the row's last: (b, t), (b, >=1) -> (b, t + 1), (b, 1)."""
    # BEGIN SOLUTION lesson_77
    grown = torch.cat([attention_mask, attention_mask.new_ones(attention_mask.shape[0], 1)], dim=-1)
    return grown, position_ids[:, -1:] + 1
    # END SOLUTION


@torch.no_grad()
def generate(model: KimiK2ForCausalLM, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
             max_new_tokens: int = 32, temperature: float = 0.0, top_k: int | None = None,
             top_p: float | None = None, stop_ids: Sequence[int] = (), seed: int | None = None,
             stream: Callable[[torch.Tensor], None] | None = None, pad_id: int | None = None) -> torch.Tensor:
    """Continue each row of ``input_ids`` (b, s) by up to ``max_new_tokens``; returns (b, s + new).

    A row stops after emitting one of ``stop_ids`` and is padded with ``pad_id`` (default: the
    config's pad token, else the first stop id) while the others go on; the loop ends when every
    row has stopped. ``stream`` is called with each step's tokens (b,). ``seed`` makes sampling
    repeatable.
    """
    check_sampling(temperature, top_k, top_p)
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids has shape {tuple(input_ids.shape)}: pass (batch, prompt length) with at "
                         "least one token per row (a BOS token if the prompt is empty)")
    limit = model.config.max_position_embeddings
    if input_ids.shape[1] + max_new_tokens > limit:
        raise ValueError(f"a prompt of {input_ids.shape[1]} tokens plus max_new_tokens={max_new_tokens} passes "
                         f"max_position_embeddings={limit}: shorten the prompt or generate fewer tokens")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask {tuple(attention_mask.shape)} must match input_ids {tuple(input_ids.shape)}")
    if stop_ids and pad_id is None:
        pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else stop_ids[0]
    if pad_id is not None and not 0 <= pad_id < model.config.vocab_size:
        raise ValueError(f"pad_id={pad_id} is not a token id (0 to {model.config.vocab_size - 1}): finished rows "
                         "keep feeding it to the model")
    generator = torch.Generator(device=input_ids.device).manual_seed(seed) if seed is not None else None
    was_training = model.training
    model.eval()
    # BEGIN SOLUTION lesson_79
    position_ids = positions_from_mask(attention_mask)                           # (b, s): left padding aware
    output = model(input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True)
    tokens, running = [input_ids], torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    stop = torch.tensor(list(stop_ids), dtype=input_ids.dtype, device=input_ids.device)
    for step in range(max_new_tokens):
        next_token = sample_next_token(output.logits[:, -1], temperature, top_k, top_p, generator)  # (b,)
        if pad_id is not None:
            next_token = next_token.masked_fill(~running, pad_id)
        tokens.append(next_token[:, None])
        if stream is not None:
            stream(next_token)
        running &= ~torch.isin(next_token, stop)
        if not running.any() or step == max_new_tokens - 1:   # no forward for a token nobody will read
            break
        attention_mask, position_ids = next_step_inputs(attention_mask, position_ids)  # (b, t + 1), (b, 1)
        output = model(next_token[:, None], attention_mask=attention_mask, position_ids=position_ids,
                       past_key_values=output.past_key_values, use_cache=True)
    # END SOLUTION
    model.train(was_training)
    return torch.cat(tokens, dim=-1)


def chat(model: KimiK2ForCausalLM, tokenizer: KimiTokenizer, messages: Sequence[dict], tools: Sequence[dict] | None = None,
         max_new_tokens: int = 256, **sampling) -> AssistantReply:
    """Reply to a conversation: render it with Kimi's chat template and the generation prompt,
    generate until <|im_end|>, and parse the reply into content and tool calls (a malformed
    reply raises ToolCallParseError). ``sampling``: temperature, top_k, top_p, seed."""
    prompt = encode_chat(tokenizer, messages, tools)
    output = generate(model, torch.tensor([prompt]), max_new_tokens=max_new_tokens,
                      stop_ids=[tokenizer.token_id("<|im_end|>")], **sampling)
    return parse_completion(tokenizer, output[0, len(prompt):].tolist())
