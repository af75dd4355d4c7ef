"""Lesson 26: deinterleave and apply_rotary_pos_emb (cos/sin indexed by position_ids, q and k
de-interleaved, then q*cos + rotate_half(q)*sin)."""
import torch
from kimi_course.testing import assert_close


def _tables(module, dim, base, length):
    return module.DeepseekV3RotaryEmbedding(dim, base=base)(torch.zeros(1), seq_len=length)


def test_deinterleave_is_the_evens_then_odds_permutation(impl, reference):
    assert_close(impl.rope.deinterleave(torch.arange(8.0)), torch.tensor([0.0, 2, 4, 6, 1, 3, 5, 7]), atol=0,
                 what="deinterleave(arange(8))",
                 hint="view (..., d/2, 2), transpose the last two axes, reshape to (..., d): teaching.md §The code")
    x = torch.randn(2, 3, 5, 64, generator=torch.Generator().manual_seed(0))
    out = impl.rope.deinterleave(x)
    assert_close(out, reference.rope.deinterleave(x), atol=0, what="deinterleave(x of shape (2, 3, 5, 64))",
                 hint="only the last dimension is permuted; the leading dims stay as they are")
    assert_close(out.sort(-1).values, x.sort(-1).values, atol=0, what="sorted entries of deinterleave(x)",
                 hint="a permutation moves entries, it never changes them")


def test_matches_reference_with_position_ids(impl, reference):
    g = torch.Generator().manual_seed(1)
    # (batch, heads, seq, dim, base, position_ids): Kimi-K2's rope width and the tiny config's
    cases = (
        (2, 64, 5, 64, 50000.0, torch.tensor([[0, 1, 2, 3, 4], [7, 8, 9, 10, 11]])),
        (2, 4, 6, 16, 50000.0, torch.tensor([[0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5]])),   # left padding
        (1, 4, 3, 16, 10000.0, torch.tensor([[40, 41, 42]])),                              # decoding offset
    )
    for batch, heads, seq, dim, base, position_ids in cases:
        cos, sin = _tables(reference, dim, base, 64)
        q = torch.randn(batch, heads, seq, dim, generator=g)
        k = torch.randn(batch, 1, seq, dim, generator=g)   # one shared k_pe per token
        mine = impl.rope.apply_rotary_pos_emb(q, k, cos, sin, position_ids)
        ref = reference.rope.apply_rotary_pos_emb(q, k, cos, sin, position_ids)
        where = f"q {tuple(q.shape)}, k {tuple(k.shape)}, position_ids {position_ids.tolist()}"
        assert_close(mine[0], ref[0], atol=1e-5, what=f"q_embed ({where})",
                     hint="index cos/sin by position_ids, unsqueeze dim 1 for the heads, de-interleave q before "
                          "rotating (teaching.md §The code)")
        assert_close(mine[1], ref[1], atol=1e-5, what=f"k_embed ({where})",
                     hint="k gets the same de-interleave and the same cos/sin as q; its head axis has size 1")


def test_equals_complex_rotation_of_interleaved_pairs(impl, reference):
    g = torch.Generator().manual_seed(2)
    rope = reference.DeepseekV3RotaryEmbedding(64, base=50000.0)
    cos, sin = rope(torch.zeros(1), seq_len=300)
    positions = torch.tensor([0, 3, 17, 299])
    q = torch.randn(1, 2, 4, 64, generator=g)
    k = torch.randn(1, 1, 4, 64, generator=g)
    q_embed, k_embed = impl.rope.apply_rotary_pos_emb(q, k, cos, sin, positions[None])
    turn = torch.polar(torch.ones(4, 32), positions[:, None].float() * rope.inv_freq)
    for name, x, out in (("q", q, q_embed), ("k", k, k_embed)):
        z = torch.view_as_complex(x.reshape(*x.shape[:-1], 32, 2)) * turn   # the checkpoint's pairs (2p, 2p+1)
        expected = torch.cat([z.real, z.imag], dim=-1)                      # [real parts | imaginary parts]
        assert_close(out, expected, atol=1e-4, what=f"{name}_embed vs complex rotation of interleaved pairs",
                     hint="pairs (x0, x1), (x2, x3), ... must turn together: de-interleave first, then rotate_half "
                          "(teaching.md §Why the permutation)")


def test_tiny_model_logits(impl, reference):
    config = reference.KimiK2Config.tiny()
    torch.manual_seed(0)
    ref_model = reference.KimiK2ForCausalLM(config).eval()
    my_model = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()).eval()
    my_model.load_state_dict(ref_model.state_dict())
    ids = torch.randint(0, config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(3))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, :4] = 0                                                            # left padding in row 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        for kwargs in ({}, {"attention_mask": mask, "position_ids": position_ids}):
            assert_close(my_model(ids, **kwargs).logits, ref_model(ids, **kwargs).logits, atol=1e-5,
                         what=f"tiny model logits ({'left-padded batch' if kwargs else 'plain batch'})",
                         hint="if only positions > 0 differ, the permutation or the position indexing is off "
                              "(teaching.md §What breaks without the permutation)")
