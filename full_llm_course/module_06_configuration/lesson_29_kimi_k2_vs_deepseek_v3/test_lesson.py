"""Lesson 29: the KimiK2Config.deepseek_v3() preset."""
import dataclasses

WHERE = "teaching.md §Every field that differs"


def test_deepseek_v3_matches_reference_field_by_field(impl, reference):
    got = dataclasses.asdict(impl.KimiK2Config.deepseek_v3())
    expected = dataclasses.asdict(reference.KimiK2Config.deepseek_v3())
    for name, value in expected.items():
        if name == "rope_scaling":
            for key, sub in value.items():
                assert got[name].get(key) == sub, (
                    f"deepseek_v3().rope_scaling[{key!r}] = {got[name].get(key)!r}, expected {sub!r}: write the "
                    f"whole rope_scaling dict ({WHERE})")
        assert got[name] == value, f"deepseek_v3().{name} = {got[name]!r}, expected {value!r} ({WHERE})"


def test_deepseek_v3_parameter_counts(impl):
    counts = impl.count_parameters(impl.KimiK2Config.deepseek_v3())
    assert counts == {"total": 671_026_419_200, "active": 37_552_297_472}, (
        f"count_parameters(deepseek_v3()) = {counts}, expected 671,026,419,200 total / 37,552,297,472 active: "
        f"check heads, experts, dense layers and vocab ({WHERE})")


def test_kimi_k2_preset_untouched(impl, reference):
    assert dataclasses.asdict(impl.KimiK2Config.deepseek_v3()) != dataclasses.asdict(impl.KimiK2Config.kimi_k2()), (
        f"deepseek_v3() returned Kimi-K2's values: pass DeepSeek-V3's to the constructor ({WHERE})")
    assert dataclasses.asdict(impl.KimiK2Config.kimi_k2()) == dataclasses.asdict(reference.KimiK2Config.kimi_k2())
