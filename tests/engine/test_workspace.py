"""`start` writes the learner's package and never overwrites what they changed."""

import json

from kimi_course import workspace


def test_start_twice_keeps_edited_files_and_reports_them(course):
    first = course.run("start")
    assert first.exit_code == 0, first.output
    assert "added: minikey_learner/__init__.py, minikey_learner/attention.py, minikey_learner/norm.py" in first.output
    norm = course.workspace / "minikey_learner" / "norm.py"
    manifest = json.loads((course.workspace / ".kimi-course" / "manifest.json").read_text())
    assert set(manifest) == {"minikey_learner/__init__.py", "minikey_learner/attention.py", "minikey_learner/norm.py"}

    norm.write_text(norm.read_text().replace("raise NotImplementedError", "return x  # mine\n"
                                             "        raise NotImplementedError"))
    mine = norm.read_text()
    (course.package / "attention.py").write_text((course.package / "attention.py").read_text() + "\n# upstream fix\n")
    (course.package / "extra.py").write_text('"""New upstream."""\n')

    second = course.run("start")
    assert second.exit_code == 0, second.output
    assert norm.read_text() == mine
    assert "left alone (you edited them): minikey_learner/norm.py" in second.output
    assert "updated (untouched by you, changed upstream): minikey_learner/attention.py" in second.output
    assert "added: minikey_learner/extra.py" in second.output
    assert "# upstream fix" in (course.workspace / "minikey_learner" / "attention.py").read_text()

    third = course.run("start")
    assert norm.read_text() == mine and "nothing new to write" in third.output


def test_build_fills_later_lessons_and_stubs_only_the_graded_one(course, tmp_path):
    course.run("start")
    learner = course.workspace / "minikey_learner"
    (learner / "mine.py").write_text("MINE = 1\n")
    extra = "def f():\n    # BEGIN SOLUTION lesson_03\n    return 3\n    # END SOLUTION\n"
    (course.package / "extra.py").write_text(extra)  # new upstream, not in the workspace
    built = workspace.build(course.package, course.root, 2, tmp_path / "graded", learner)
    attention = (built.path / "attention.py").read_text()
    assert "exp.sum" in attention and "lesson_03:" not in attention and "lesson_02: attend" in attention
    assert "return 3" in (built.path / "extra.py").read_text() and (built.path / "mine.py").read_text() == "MINE = 1\n"
    stub = next(line for line in attention.splitlines() if "lesson_02: attend" in line)
    line, mine = (text.splitlines().index(stub) + 1 for text in (attention, (learner / "attention.py").read_text()))
    assert line > mine and built.frame(str(built.path / "attention.py"), line, "attend") == \
        f"minikey_learner/attention.py:{mine} in attend: {stub.strip()}"

    stubbed = workspace.build(course.package, course.root, 3, tmp_path / "stub").path  # only lesson 03 stubbed
    attention = (stubbed / "attention.py").read_text()
    assert "lesson_03: softmax" in attention and "@ v\n" in attention and "rsqrt" in (stubbed / "norm.py").read_text()
    assert "return 3" not in (stubbed / "extra.py").read_text()
