"""Lesson 28: _normalise_rope_scaling maps transformers' rope_parameters/rope_type to rope_scaling/type."""
import dataclasses

import pytest

YARN = {"factor": 32.0, "original_max_position_embeddings": 4096, "beta_fast": 1.0, "beta_slow": 1.0,
        "mscale": 1.0, "mscale_all_dim": 1.0}
CASES = ({"rope_type": "default"}, {"rope_type": "linear", "factor": 4.0}, {"rope_type": "dynamic", "factor": 2.0},
         {"rope_type": "yarn", **YARN}, {"type": "yarn", **YARN}, {"type": "linear", "rope_type": "linear", "factor": 3.0})
WHERE = "teaching.md §Two ways to write the rope settings"


def test_each_rope_type_normalised_like_reference(impl, reference):
    for case in CASES:
        given = dict(case)
        got = impl.config._normalise_rope_scaling(given)
        expected = reference.config._normalise_rope_scaling(dict(case))
        assert got == expected, f"_normalise_rope_scaling({case}) = {got!r}, expected {expected!r} ({WHERE})"
        assert given == case, f"_normalise_rope_scaling({case}) modified its input: work on a copy ({WHERE})"


def test_default_means_no_scaling(impl):
    got = impl.config._normalise_rope_scaling({"rope_type": "default"})
    assert got is None, f"rope_type 'default' gave {got!r}, expected None: 'default' is plain RoPE ({WHERE})"


def test_conflicting_type_and_rope_type_raise(impl):
    with pytest.raises(ValueError, match="rope_type"):
        impl.config._normalise_rope_scaling({"type": "yarn", "rope_type": "linear", "factor": 2.0, **YARN})


def test_default_with_parameters_raises(impl):
    with pytest.raises(ValueError, match="default"):
        impl.config._normalise_rope_scaling({"rope_type": "default", "factor": 2.0})


def test_from_dict_of_transformers_style_equals_remote_style(impl, reference):
    for params in ({"rope_type": "yarn", **YARN}, {"rope_type": "linear", "factor": 4.0},
                   {"rope_type": "dynamic", "factor": 2.0}, {"rope_type": "default"}):
        base = reference.KimiK2Config.tiny().to_dict()
        del base["rope_scaling"], base["rope_theta"]
        new_style = {**base, "rope_parameters": {**params, "rope_theta": 20000.0}}
        got = dataclasses.asdict(impl.KimiK2Config.from_dict(new_style))
        expected = dataclasses.asdict(reference.KimiK2Config.from_dict(new_style))
        assert got == expected, (f"from_dict with rope_parameters={params}: rope_theta={got['rope_theta']!r}, "
                                 f"rope_scaling={got['rope_scaling']!r}; expected {expected['rope_theta']!r}, "
                                 f"{expected['rope_scaling']!r} ({WHERE})")
    k2 = reference.KimiK2Config.kimi_k2().to_dict()
    scaling = {k: v for k, v in k2.pop("rope_scaling").items() if k != "type"}
    new_style = {**k2, "rope_parameters": {"rope_type": "yarn", "rope_theta": k2.pop("rope_theta"), **scaling}}
    assert dataclasses.asdict(impl.KimiK2Config.from_dict(new_style)) == dataclasses.asdict(
        reference.KimiK2Config.kimi_k2()), f"Kimi-K2 in transformers form does not load as kimi_k2() ({WHERE})"
