"""Quizzes parse strictly from tasks.md and are scored with --answers."""

import json

import pytest

from kimi_course import quiz

QUIZ = """# Tasks

## Quiz

**Q1.** Pick one.

- a) this
- b) that

<details><summary>Answer</summary>

**Answer:** a
**Why:** because.

</details>

**Q2.** How much?

**Answer:** 0.5 ± 0.1
**Why:** half.

## Stretch

Not part of the quiz.
"""


def test_parse_multiple_choice_and_numeric():
    first, second = quiz.parse(QUIZ)
    assert (first.options, first.answer, first.why) == ({"a": "this", "b": "that"}, "a", "because.")
    assert second.numeric and (second.value, second.tolerance) == (0.5, 0.1)
    assert second.is_correct("0.58") and not second.is_correct("0.7") and first.is_correct("A")
    with pytest.raises(ValueError, match="one of a, b"):
        first.is_correct("c")


@pytest.mark.parametrize("old, new, error", [
    ("**Answer:** a", "**Answer:** c", r"tasks.md:12: Q1's answer 'c' is not one of its options \(a, b\)"),
    ("**Why:** half.", "", r"tasks.md:17: Q2 needs an \*\*Answer:\*\* line and a \*\*Why:\*\* line"),
    ("**Q2.**", "**Q3.**", r"tasks.md:17: expected \*\*Q2\.\*\*, found \*\*Q3\.\*\*"),
    ("**Answer:** 0.5 ± 0.1", "**Answer:** half", r"tasks.md:19: .*must be a number"),
    ("- b) that", "- c) that", r"tasks.md:8: option `c\)` out of place"),
    ("## Quiz", "## Quiz?", r"tasks.md: expected exactly one `## Quiz` section, found 0"),
])
def test_errors_name_the_line(old, new, error):
    with pytest.raises(quiz.QuizError, match=error):
        quiz.parse(QUIZ.replace(old, new))


def test_quiz_with_answers_scores_and_records(course):
    result = course.run("quiz", "02", "--answers", "3.536, b, a")
    assert result.exit_code == 0, result.output
    assert "score: 2/3" in result.output and "wrong (answer: b). Why: only the scale is normalised" in result.output
    record = json.loads((course.workspace / ".kimi-course" / "progress.json").read_text())
    assert record["quizzes"]["lesson_02"] | {"when": None} == {"score": 2, "total": 3, "best": 2, "when": None}
    assert course.run("quiz", "2", "--answers", "b").exit_code == 2
    assert "1/2" not in course.run("progress").output and "2/3" in course.run("progress").output
