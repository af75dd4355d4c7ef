"""Lesson 23: DeepseekV3YarnRotaryEmbedding.__init__ stores the YaRN settings, builds the blended
inv_freq and attention_scaling = mscale(s, mscale) / mscale(s, mscale_all_dim)."""
import pytest
import torch
from kimi_course.testing import assert_close

CONFIGS = {  # name: constructor keyword arguments
    "Kimi-K2": dict(dim=64, max_position_embeddings=131072, base=50000.0, scaling_factor=32.0,
                    original_max_position_embeddings=4096, beta_fast=1.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0),
    "DeepSeek-V3": dict(dim=64, max_position_embeddings=163840, base=10000.0, scaling_factor=40.0,
                        original_max_position_embeddings=4096, beta_fast=32.0, beta_slow=1.0, mscale=1.0,
                        mscale_all_dim=1.0),
    "mscale 0.707 / mscale_all_dim 0": dict(dim=64, max_position_embeddings=163840, base=10000.0, scaling_factor=40.0,
                                            original_max_position_embeddings=4096, beta_fast=32.0, beta_slow=1.0,
                                            mscale=0.707, mscale_all_dim=0.0),
    "tiny": dict(dim=16, max_position_embeddings=1024, base=50000.0, scaling_factor=4.0,
                 original_max_position_embeddings=256, beta_fast=1.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0),
}
STORED = ("scaling_factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
          "dim", "max_position_embeddings", "base")


def _both(impl, reference, name):
    return (impl.rope.DeepseekV3YarnRotaryEmbedding(**CONFIGS[name]),
            reference.rope.DeepseekV3YarnRotaryEmbedding(**CONFIGS[name]))


def test_stores_settings(impl, reference):
    for name in CONFIGS:
        mine, _ = _both(impl, reference, name)
        for attr in STORED:
            value = getattr(mine, attr, "<missing>")
            assert value == CONFIGS[name][attr], (
                f"{name}: self.{attr} = {value!r}, expected {CONFIGS[name][attr]!r}: store every constructor "
                "argument (teaching.md §The code)")


def test_inv_freq_and_attention_scaling(impl, reference):
    for name in CONFIGS:
        mine, ref = _both(impl, reference, name)
        assert_close(mine.inv_freq, ref.inv_freq, atol=0, rtol=1e-6, what=f"inv_freq ({name})",
                     hint="self.inv_freq = self._yarn_inv_freq(device), after storing the settings "
                          "(teaching.md §The code)")
        assert mine.attention_scaling == pytest.approx(ref.attention_scaling, rel=1e-12), (
            f"{name}: attention_scaling = {mine.attention_scaling!r}, expected {ref.attention_scaling!r}: "
            "yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscale_all_dim) (teaching.md §Pitfalls)")
        assert "inv_freq" in dict(mine.named_buffers()) and "inv_freq" not in mine.state_dict(), (
            f"{name}: inv_freq must stay a non-persistent buffer: assign self.inv_freq = ..., do not register it "
            "as persistent (teaching.md §Pitfalls)")
    kimi, _ = _both(impl, reference, "Kimi-K2")
    assert kimi.attention_scaling == pytest.approx(1.0), "Kimi-K2's cos/sin factor is mscale(32,1)/mscale(32,1) = 1.0"


def test_tables_from_forward(impl, reference):
    x = torch.zeros(1, dtype=torch.float32)
    for name, length in (("Kimi-K2", 300), ("DeepSeek-V3", 300), ("mscale 0.707 / mscale_all_dim 0", 64), ("tiny", 40)):
        mine, ref = _both(impl, reference, name)
        cos, sin = mine(x, seq_len=length)
        ref_cos, ref_sin = ref(x, seq_len=length)
        assert_close(cos, ref_cos, atol=1e-5, what=f"cos from forward ({name}, seq_len {length})",
                     hint="the table is built from self.inv_freq and multiplied by self.attention_scaling")
        assert_close(sin, ref_sin, atol=1e-5, what=f"sin from forward ({name}, seq_len {length})")
