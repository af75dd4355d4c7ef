"""Graded tests for lesson 77: kimik2.generation.positions_from_mask and next_step_inputs."""

import importlib
import math

import torch
from kimi_course.testing import assert_close, left_padded

PROMPTS = [[5, 17, 33, 2, 8, 61, 40], [9, 9, 70], [44, 3, 12, 90, 6], [300]]


def generation(package):
    """The package's generation module (kimik2/__init__.py does not import it)."""
    return importlib.import_module(f"{package.__name__}.generation")


def _model(package, seed=0):
    """Tiny model with O(1) logits, so that greedy choices are far from ties."""
    torch.manual_seed(seed)
    model = package.KimiK2ForCausalLM(package.KimiK2Config.tiny()).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 2 and "embed_tokens" not in name:
                parameter.copy_(torch.randn(parameter.shape, generator=g) / math.sqrt(parameter.shape[1]))
    return model


def test_positions_count_real_tokens_from_zero(impl, reference):
    pads = [0, 3, 8, 1, 5, 9]                                  # row 5: one real token at the end
    mask = torch.tensor([[0] * p + [1] * (10 - p) for p in pads])
    got = generation(impl).positions_from_mask(mask)
    by_hand = torch.zeros(len(pads), 10, dtype=torch.long)
    for row, p in enumerate(pads):
        for column in range(p, 10):
            by_hand[row, column] = column - p                  # the k-th real token sits at position k
    assert isinstance(got, torch.Tensor) and got.dtype == torch.long, (
        f"positions_from_mask returned {type(got).__name__} {getattr(got, 'dtype', '')}; expected an int64 tensor "
        "(cumsum of an integer mask keeps int64)")
    assert_close(got, by_hand, atol=0, what=f"positions_from_mask, left padding {pads} of width 10",
                 hint="positions = cumsum(mask) - 1, clamped at 0 for the pads (teaching.md §Positions from the mask)")
    assert_close(got, generation(reference).positions_from_mask(mask), atol=0, what="positions vs the answer key")
    ones = torch.ones(2, 7, dtype=torch.long)
    assert_close(generation(impl).positions_from_mask(ones), torch.arange(7).expand(2, 7), atol=0,
                 what="positions_from_mask without padding", hint="no padding: 0, 1, ..., s - 1")


def test_next_step_inputs_grow_the_mask_and_advance_the_position(impl, reference):
    ids, mask = left_padded(PROMPTS)
    positions = generation(reference).positions_from_mask(mask)            # (4, 7)
    expected_mask, expected_position = mask, positions[:, -1:]
    for step in range(3):
        mask, positions = generation(impl).next_step_inputs(mask, positions)
        expected_mask = torch.cat([expected_mask, torch.ones(4, 1, dtype=torch.long)], dim=1)
        expected_position = expected_position + 1
        assert_close(mask, expected_mask, atol=0, what=f"attention mask after step {step + 1}",
                     hint="append one column of ones: the new token is real in every row "
                          "(teaching.md §One step later)")
        assert_close(positions, expected_position, atol=0, what=f"position of the new token after step {step + 1}",
                     hint="(b, 1): one past each row's last position, not past the padded width "
                          "(teaching.md §One step later)")


def test_a_left_padded_forward_equals_each_prompt_alone(impl, reference):
    """Prefill a left-padded batch with impl's positions, then 3 cached steps with impl's next_step_inputs:
    at every real position the logits equal those of each prompt run alone."""
    model = _model(reference)
    ids, mask = left_padded(PROMPTS)
    follow = torch.tensor([[7, 8, 9], [10, 11, 12], [13, 14, 15], [16, 17, 18]])
    with torch.no_grad():
        positions = generation(impl).positions_from_mask(mask)
        out = model(ids, attention_mask=mask, position_ids=positions, use_cache=True)
        batch_logits = [out.logits]
        step_mask = mask
        for step in range(3):
            step_mask, positions = generation(impl).next_step_inputs(step_mask, positions)
            out = model(follow[:, step:step + 1], attention_mask=step_mask, position_ids=positions,
                        past_key_values=out.past_key_values)
            batch_logits.append(out.logits)
        batch_logits = torch.cat(batch_logits, dim=1)                  # (4, 10, vocab)
        for row, prompt in enumerate(PROMPTS):
            alone = model(torch.tensor([prompt + follow[row].tolist()])).logits[0]
            real = batch_logits[row, ids.shape[1] - len(prompt):]
            assert_close(real, alone, atol=1e-4,
                         what=f"row {row} (prompt of {len(prompt)} tokens, {ids.shape[1] - len(prompt)} pads): "
                              "logits in the batch vs alone",
                         hint="every row must see the positions it would see alone: cumsum(mask) - 1 at prefill, "
                              "last + 1 afterwards (teaching.md §Why the positions must follow the mask)")


def test_a_left_padded_batch_generates_what_each_prompt_generates_alone(impl, reference):
    model = _model(reference, seed=1)
    ids, mask = left_padded(PROMPTS)
    batched = generation(impl).generate(model, ids, mask, max_new_tokens=4)
    for row, prompt in enumerate(PROMPTS):
        alone = generation(reference).generate(model, torch.tensor([prompt]), max_new_tokens=4)
        assert batched[row, -4:].tolist() == alone[0, -4:].tolist(), (
            f"row {row}: the batch generated {batched[row, -4:].tolist()}, the prompt alone "
            f"{alone[0, -4:].tolist()} (teaching.md §Why the positions must follow the mask)")
