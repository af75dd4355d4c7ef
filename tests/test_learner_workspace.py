"""The real answer key turns into a learner package that imports next to the reference."""

import importlib
import sys

import torch

from helpers import tiny_config
from kimi_course import catalog, workspace


def test_workspace_of_the_real_package_imports_under_its_own_name(tmp_path, monkeypatch):
    report = workspace.start(tmp_path, catalog.DEFAULT_PACKAGE_DIR, catalog.DEFAULT_COURSE_ROOT)
    assert "kimik2_learner/model.py" in report.added
    monkeypatch.syspath_prepend(str(tmp_path))
    learner = importlib.import_module("kimik2_learner")
    try:
        import kimik2
        assert learner is not kimik2 and learner.KimiK2ForCausalLM is not kimik2.KimiK2ForCausalLM
        assert learner.count_parameters(learner.KimiK2Config.kimi_k2()) == kimik2.count_parameters(
            kimik2.KimiK2Config.kimi_k2())
        config = tiny_config().to_dict()
        reference = kimik2.KimiK2ForCausalLM(kimik2.KimiK2Config.from_dict(config))
        theirs = learner.KimiK2ForCausalLM(learner.KimiK2Config.from_dict(config))
        theirs.load_state_dict(reference.state_dict())
        ids = torch.randint(0, 97, (1, 9))
        assert torch.equal(theirs(ids).logits, reference(ids).logits)
        again = workspace.start(tmp_path, catalog.DEFAULT_PACKAGE_DIR, catalog.DEFAULT_COURSE_ROOT)
        assert again.added == again.updated == again.kept == []
    finally:
        for name in [name for name in sys.modules if name.startswith("kimik2_learner")]:
            del sys.modules[name]
