"""Markers are parsed strictly; stubs keep signatures and docstrings and still import."""

import inspect

import pytest
import torch

from kimi_course import markers, workspace
from kimi_course.pytest_plugin import import_package


def test_stub_package_imports_and_raises_with_the_lesson(course):
    workspace.start(course.workspace, course.package, course.root)
    stubs = course.workspace / "minikey_learner"
    module = import_package(stubs, "minikey_learner_stub_test")
    reference = (course.package / "norm.py").read_text()
    stubbed = (stubs / "norm.py").read_text()
    signature = "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
    docstring = '        """Normalize over the last dimension; the output has the input\'s dtype."""\n'
    assert signature + docstring in reference and signature + docstring in stubbed
    assert "# BEGIN SOLUTION lesson_02" in stubbed and "# END SOLUTION" in stubbed and "rsqrt" not in stubbed
    assert list(inspect.signature(module.softmax).parameters) == ["x", "dim"]
    with pytest.raises(NotImplementedError, match=r"^lesson_02: RMSNorm.forward - see course/module_02_layers/"
                                                  r"lesson_02_rms_norm/teaching.md$"):
        module.RMSNorm(4)(torch.ones(4))


def test_regions_name_the_enclosing_function(course):
    found = [(r.file, r.lesson, r.qualname) for r in markers.scan(course.package)]
    assert found == [("minikey/attention.py", "lesson_03", "softmax"),
                     ("minikey/attention.py", "lesson_03", "attention_weights"),
                     ("minikey/attention.py", "lesson_02", "attend"),
                     ("minikey/norm.py", "lesson_02", "RMSNorm.forward")]


@pytest.mark.parametrize("source, error", [
    ("def f():\n    # BEGIN SOLUTION lesson_01\n    return 1\n", r"f\.py:2: BEGIN SOLUTION lesson_01 is never closed"),
    ("def f():\n    return 1\n    # END SOLUTION\n", r"f\.py:3: END SOLUTION without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION lesson_01\n    # BEGIN SOLUTION lesson_02\n", r"f\.py:3: .*cannot nest"),
    ("# BEGIN SOLUTION lesson_01\nx = 1\n# END SOLUTION\n", r"f\.py:1: .*not inside a function"),
    ("def f():\n    # BEGIN SOLUTION lesson 1\n", r"f\.py:2: malformed marker"),
])
def test_marker_errors_name_file_and_line(source, error):
    with pytest.raises(markers.MarkerError, match=error):
        markers.find_regions(source, "f.py")
