"""`verify` passes on the fixture course and names every planted problem."""

from kimi_course import catalog
from kimi_course.verify import SEED, run_verify


def problems(report):
    return [(f.check, f.where, f.message) for f in report.failures]


def test_fixture_course_verifies(course):
    result = course.run("verify")
    assert result.exit_code == 0, result.output
    assert "verify: 3 lessons, checks tests, stubs, blocks, snippets, quizzes, links, structure, markers: all passed" \
        in result.output


def test_empty_course_verifies(course, tmp_path, monkeypatch):
    monkeypatch.setenv("KIMI_COURSE_ROOT", str(tmp_path / "full_llm_course"))
    result = course.run("verify")
    assert result.exit_code == 0 and "verify: 0 lessons" in result.output and "all passed" in result.output
    assert "markers for lessons not written yet (not checked): lesson_02, lesson_03" in result.output


def test_tests_that_cannot_fail_or_fail_on_the_answer_key_are_named(course):
    softmax_tests = course.lesson("lesson_03_softmax") / "test_lesson.py"
    softmax_tests.write_text(softmax_tests.read_text() + "\n\ndef test_always_passes(impl):\n    assert impl\n")
    norm_tests = course.lesson("lesson_02_rms_norm") / "test_lesson.py"
    only_lesson_03 = "\n\ndef test_only_lesson_03(impl):\n    assert impl.softmax(torch.zeros(2)).tolist() == [0.5, 0.5]\n"
    norm_tests.write_text(norm_tests.read_text().replace("atol=1e-2", "atol=-1.0") + only_lesson_03)
    report = run_verify(course.root, course.package, only=("tests", "stubs"))
    [(check, where, message), *cannot_fail] = problems(report)
    assert (check, where) == ("tests", "course/module_02_layers/lesson_02_rms_norm/test_lesson.py::"
                                       "test_bfloat16_stays_bfloat16")
    assert message.startswith("failed on the answer key: RMSNorm(8)(x in bf16): max abs error")
    assert cannot_fail == [
        ("stubs", "course/module_02_layers/lesson_02_rms_norm/test_lesson.py::test_only_lesson_03",
         "passes with lesson 02's code stubbed out, so it cannot fail: it does not depend on lesson 02's code"),
        ("stubs", "course/module_02_layers/lesson_03_softmax/test_lesson.py::test_always_passes",
         "passes with lesson 03's code stubbed out, so it cannot fail: it does not depend on lesson 03's code")]
    assert report.summary().endswith("3 failed (tests 1, stubs 2)")


def test_broken_code_block_is_located(course):
    teaching = course.lesson("lesson_01_welcome") / "teaching.md"
    teaching.write_text(teaching.read_text().replace("print(tokens[-1])", "print(tokens[-1])\nprint(undefined_name)"))
    [(check, where, message)] = problems(run_verify(course.root, course.package, only=("blocks", "snippets")))
    assert (check, where) == ("blocks", "course/module_01_basics/lesson_01_welcome/teaching.md:19")
    assert message.startswith("python block at line 18 fails:") and "NameError: name 'undefined_name'" in message


def test_broken_snippet_link_and_quiz_are_reported_together(course):
    lesson = course.lesson("lesson_03_softmax")
    (lesson / "code_snippets.py").write_text("raise SystemExit('boom')\n")
    (lesson / "teaching.md").write_text((lesson / "teaching.md").read_text() + "\n![plot](rope_plot.png)\n")
    (lesson / "tasks.md").write_text((lesson / "tasks.md").read_text().replace("**Answer:** b", "**Answer:** z"))
    report = run_verify(course.root, course.package, only=("snippets", "links", "quizzes"))
    assert problems(report) == [
        ("snippets", "course/module_02_layers/lesson_03_softmax/code_snippets.py", "boom"),
        ("quizzes", "course/module_02_layers/lesson_03_softmax/tasks.md:19",
         "Q1's answer 'z' is not one of its options (a, b)"),
        ("links", "course/module_02_layers/lesson_03_softmax/teaching.md:14", "rope_plot.png does not exist"),
    ]
    assert report.summary().endswith("3 failed (snippets 1, quizzes 1, links 1)")


def test_structure_numbering_seed_names_and_direct_imports(course):
    lesson_03 = course.lesson("lesson_03_softmax")
    lesson_03.rename(lesson_03.parent / "lesson_04_softmax")
    test_file = course.lesson("lesson_02_rms_norm") / "test_lesson.py"
    test_file.write_text("import minikey\n" + test_file.read_text())
    report = run_verify(course.root, course.package, only=("structure",), seed_names=True)
    messages = [message for _, _, message in problems(report)]
    assert "lesson numbers must run 01, 02, ... in order without gaps or repeats; found 01, 02, 04" in messages
    assert any(m.startswith("the seed fixes this module as module_01_introduction with lesson_01_llm_basics")
               for m in messages)
    assert "imports minikey directly: use the `reference` fixture so the grader controls what is tested" in messages
    assert catalog.DEFAULT_COURSE_ROOT.name == "full_llm_course" and len(SEED) == 4


def test_markers_must_match_lessons_with_tests(course):
    for name in ("norm.py", "attention.py"):
        (course.package / name).write_text((course.package / name).read_text().replace("lesson_02", "lesson_01"))
    report = run_verify(course.root, course.package, only=("markers",))
    assert problems(report) == [
        ("markers", "course/module_01_basics/lesson_01_welcome", "has solution markers but no test_lesson.py"),
        ("markers", "course/module_02_layers/lesson_02_rms_norm/test_lesson.py",
         "no `# BEGIN SOLUTION lesson_02` region in the answer key for these tests"),
    ]
    (course.package / "norm.py").write_text("def f():\n    # END SOLUTION\n")
    assert problems(run_verify(course.root, course.package, only=("markers",))) == [
        ("markers", "minikey/norm.py:2", "END SOLUTION without a BEGIN SOLUTION lesson_NN above it")]


def test_misnamed_lesson_folder_is_reported(course):
    (course.root / "module_02_layers" / "lesson_5_typo").mkdir()
    assert problems(run_verify(course.root, course.package, only=("structure",))) == [
        ("structure", "course/module_02_layers/lesson_5_typo",
         "not a lesson folder name: write lesson_NN_name (two digits, then a name)")]


def test_snippets_leave_the_lesson_folder_as_they_found_it(course):
    """A snippet that rewrites its figure (a timing plot differs at every run) and drops a scratch file:
    verify runs it, then restores the figure's bytes and removes the new file."""
    lesson = course.lesson("lesson_03_softmax")
    (lesson / "figure.png").write_bytes(b"committed")
    (lesson / "code_snippets.py").write_text("from pathlib import Path\nPath('figure.png').write_bytes(b'new timing')\n"
                                             "Path('scratch.txt').write_text('x')\n")
    assert problems(run_verify(course.root, course.package, only=("snippets",))) == []
    assert (lesson / "figure.png").read_bytes() == b"committed" and not (lesson / "scratch.txt").exists()
