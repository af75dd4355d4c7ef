"""Lesson 30: the MoE-routing rules of KimiK2Config.validate."""
import pytest

WHERE = "teaching.md §The code"
INVALID = (  # overrides of tiny() (16 experts, 4 per token, 4 layers) and the field the message must name
    (dict(n_group=3), "n_group"),
    (dict(n_group=5, topk_group=1), "n_group"),
    (dict(n_group=4, topk_group=5), "topk_group"),
    (dict(n_group=4, topk_group=1, num_experts_per_tok=5), "num_experts_per_tok"),
    (dict(n_group=8, topk_group=1, num_experts_per_tok=3), "num_experts_per_tok"),
    (dict(n_group=16, topk_group=16), "n_group"),
    (dict(first_k_dense_replace=5), "first_k_dense_replace"),
)
VALID = (dict(n_group=4, topk_group=1, num_experts_per_tok=4), dict(n_group=8, topk_group=2, num_experts_per_tok=4),
         dict(n_group=8, topk_group=8), dict(first_k_dense_replace=4),
         dict(n_group=16, topk_group=16, topk_method="greedy"), dict(n_routed_experts=None))


def test_each_rule_raises_naming_the_field(impl):
    for change, name in INVALID:
        with pytest.raises(ValueError, match=rf"KimiK2Config\.{name} ="):
            impl.KimiK2Config.tiny(**change)


def test_messages_equal_reference(impl, reference):
    for change, _ in INVALID:
        with pytest.raises(ValueError) as expected:
            reference.KimiK2Config.tiny(**change)
        try:
            impl.KimiK2Config.tiny(**change)
        except ValueError as error:
            assert str(error) == str(expected.value), (
                f"tiny(**{change}): message {str(error)!r}, expected {str(expected.value)!r} ({WHERE})")
        else:
            pytest.fail(f"tiny(**{change}) was accepted: expected {str(expected.value)!r} ({WHERE})")


def test_edge_cases_are_valid(impl):
    for change in VALID:
        config = impl.KimiK2Config.tiny(**change)
        assert config.n_group == change.get("n_group", 1), f"tiny(**{change})"
    impl.KimiK2Config.kimi_k2()
    impl.KimiK2Config.deepseek_v3()
