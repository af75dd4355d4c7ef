"""`check` grades the workspace: results, earlier-lesson stubs, hanging code, progress."""

import json


def test_earlier_lesson_stub_says_finish_it_first(course):
    course.run("start")
    learner = course.workspace / "minikey_learner"
    (learner / "attention.py").write_text((course.package / "attention.py").read_text())  # lesson 03 done, 02 not
    result = course.run("check", "3")
    assert result.exit_code == 1
    assert "test_softmax_matches_reference" in result.output and "pass" in result.output
    assert "finish lesson 02 first: lesson_02: RMSNorm.forward" in result.output
    assert "your code minikey_learner/norm.py" in result.output

    (learner / "norm.py").write_text((course.package / "norm.py").read_text())
    done = course.run("check", "lesson_03")
    assert done.exit_code == 0 and "2/2 passed: lesson 03 done" in done.output
    record = json.loads((course.workspace / ".kimi-course" / "progress.json").read_text())
    assert record["checks"]["lesson_03"]["passed"] == 2


def test_hanging_code_is_stopped_with_a_message(course):
    course.run("start")
    norm = course.workspace / "minikey_learner" / "norm.py"
    loop = "while True:\n            x = x + 1\n        raise NotImplementedError"
    norm.write_text(norm.read_text().replace("raise NotImplementedError", loop))
    result = course.run("check", "2", "--timeout", "3")
    assert result.exit_code == 1
    assert "lesson_02: test_forward_matches_reference was stopped after 3 s (the time limit for one test)" in result.output
    assert "your code minikey_learner/norm.py:19 in forward: x = x + 1" in result.output


def test_wrong_values_show_shape_error_and_hint(course):
    course.run("start")
    norm = course.workspace / "minikey_learner" / "norm.py"
    norm.write_text(norm.read_text().replace("raise NotImplementedError(", "return x * 2  # ("))
    result = course.run("check", "2")
    assert result.exit_code == 1
    assert "RMSNorm(8)(x): max abs error" in result.output and "at index (" in result.output
    assert "hint: teaching.md §The forward pass" in result.output
    assert "Read course/module_02_layers/lesson_02_rms_norm/teaching.md" in result.output


def test_check_without_workspace_says_start(course):
    result = course.run("check", "2")
    assert result.exit_code == 2 and "run `kimi-course start" in result.output


def test_lesson_without_graded_code_has_nothing_to_check(course):
    course.run("start")
    result = course.run("check", "01")
    assert result.exit_code == 0 and "no graded code in lesson_01_welcome: nothing to check" in result.output
