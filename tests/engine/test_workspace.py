"""`start` writes the learner's package and never overwrites what they changed."""

import json


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
