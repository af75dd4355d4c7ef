"""The real answer key turns into a learner package that imports next to the reference,
with every marked piece stubbed and naming its lesson."""

import importlib
import sys

import pytest
import torch

from kimi_course import catalog, grader, markers, workspace


@pytest.fixture
def learner(tmp_path, monkeypatch):
    report = workspace.start(tmp_path, catalog.DEFAULT_PACKAGE_DIR, catalog.DEFAULT_COURSE_ROOT)
    assert "kimik2_learner/model.py" in report.added
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("kimik2_learner"), tmp_path
    for name in [name for name in sys.modules if name.startswith("kimik2_learner")]:
        del sys.modules[name]


def test_stubbed_workspace_imports_and_names_the_lessons(learner):
    package, directory = learner
    import kimik2
    assert package is not kimik2 and package.KimiK2ForCausalLM is not kimik2.KimiK2ForCausalLM
    with pytest.raises(NotImplementedError, match="lesson_01: bigram_counts"):
        package.basics.bigram_counts(torch.tensor([0, 1]), 2)
    with pytest.raises(NotImplementedError, match="lesson_07: DeepseekV3RMSNorm.__init__"):
        package.DeepseekV3RMSNorm(8)
    with pytest.raises(NotImplementedError, match="lesson_30: KimiK2Config.validate"):
        package.KimiK2Config.tiny()
    again = workspace.start(directory, catalog.DEFAULT_PACKAGE_DIR, catalog.DEFAULT_COURSE_ROOT)
    assert again.added == again.updated == again.kept == []


def test_every_seed_lesson_from_01_to_18_has_markers_except_the_study_lesson_14():
    lessons = {region.lesson for region in markers.scan(catalog.DEFAULT_PACKAGE_DIR)}
    expected = {f"lesson_{n:02d}" for n in range(1, 19)} - {"lesson_14"}
    assert expected <= lessons, sorted(expected - lessons)


def test_a_finished_workspace_passes_module_12_against_transformers(tmp_path):
    """A learner who has written every marked region (here: filled from the answer key, region by
    region) owns a complete Kimi-K2: module 12's lessons, the parity lesson among them, pass."""
    package, root = catalog.DEFAULT_PACKAGE_DIR, catalog.DEFAULT_COURSE_ROOT
    workspace.start(tmp_path, package, root)
    learner = tmp_path / workspace.learner_package(package)
    for file in learner.rglob("*.py"):
        relative = file.relative_to(learner).as_posix()
        finished, _ = markers.fill(file.read_text(), (package / relative).read_text(), relative, after=0)
        file.write_text(finished)
        assert "NotImplementedError" not in finished or "NotImplementedError" in (package / relative).read_text()
    lessons = [lesson for lesson in catalog.lessons(root) if lesson.module == "module_12_model"]
    assert "lesson_66" in {lesson.id for lesson in lessons}
    results = grader.run_tests(lessons, "workspace", root, package, tmp_path)
    assert set(results) == {lesson.id for lesson in lessons if lesson.test_file.exists()}
    failures = {lesson: result.problem or [t.message for t in result.tests.values() if t.outcome != "passed"]
                for lesson, result in results.items() if not result.ok}
    assert not failures, failures
