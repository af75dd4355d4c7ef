"""`check` grades the workspace: results, earlier-lesson stubs, later lessons from the answer key, hanging code."""

import json


def replace_stub(path, stub: str, code: str) -> int:
    """Replace the stub line that contains ``stub`` with ``code``; returns its line number."""
    lines = path.read_text().splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines, 1) if stub in line)
    lines[number - 1] = code
    path.write_text("".join(lines))
    return number


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
    line = replace_stub(course.workspace / "minikey_learner" / "attention.py", "lesson_02: attend",
                        "    while True:\n        q = q + 1\n")
    result = course.run("check", "2", "--timeout", "3")
    assert result.exit_code == 1
    assert "lesson_02: test_attend_matches_reference was stopped after 3 s (the time limit for one test)" \
        in result.output
    # the learner's line number, though lesson 03's code filled in above it is longer than its stubs
    assert f"your code minikey_learner/attention.py:{line + 1} in attend: q = q + 1" in result.output


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


def test_later_lessons_come_from_the_answer_key(course):
    course.run("start")
    learner = course.workspace / "minikey_learner"
    (learner / "norm.py").write_text((course.package / "norm.py").read_text())
    replace_stub(learner / "attention.py", "lesson_02: attend", "    return attention_weights(q, k, norm) @ v\n")
    mine = (learner / "attention.py").read_text()
    result = course.run("check", "2")  # attend calls lesson 03's attention_weights, still a stub in the workspace
    assert result.exit_code == 0 and "3/3 passed: lesson 02 done" in result.output
    assert (learner / "attention.py").read_text() == mine and "lesson_03: softmax" in mine
    assert sorted(p.name for p in (course.workspace / ".kimi-course").iterdir()) == ["manifest.json", "progress.json"]


def test_deleted_marker_names_the_file_and_the_marker(course):
    course.run("start")
    attention = course.workspace / "minikey_learner" / "attention.py"
    attention.write_text(attention.read_text().replace("    # BEGIN SOLUTION lesson_03\n", "", 1)
                         .replace("    # END SOLUTION\n", "", 1))
    result = course.run("check", "2")
    assert result.exit_code == 1
    assert "minikey_learner/attention.py: the answer key has `# BEGIN SOLUTION lesson_03` regions in softmax, " \
           "attention_weights, this file in attention_weights: restore the `# BEGIN SOLUTION lesson_03` and " \
           "`# END SOLUTION` lines" in result.output
