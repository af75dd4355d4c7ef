"""Lessons are found on disk and addressed as 8, 08, lesson_08 or their folder name."""

import pytest

from kimi_course import catalog


@pytest.mark.parametrize("address", ["2", "02", "lesson_02", "lesson_2", "lesson_02_rms_norm"])
def test_lesson_addresses(course, address):
    assert catalog.find(course.root, address).name == "lesson_02_rms_norm"


def test_bad_address_lists_valid_lessons(course):
    with pytest.raises(catalog.CourseError, match=r"no lesson '9'\. Valid lessons: 01-03"):
        catalog.find(course.root, "9")
    result = course.run("show", "lesson_77")
    assert result.exit_code == 2 and "Valid lessons: 01-03" in result.output


def test_title_time_and_prerequisites(course):
    lesson = catalog.find(course.root, "3")
    assert (lesson.title, lesson.time, lesson.prerequisites) == ("Softmax and attention weights", "20 min", [1, 2])
    assert catalog.find(course.root, "1").prerequisites == []


def test_missing_course_has_no_lessons(tmp_path):
    assert catalog.lessons(tmp_path / "full_llm_course") == []


def test_list_and_show(course):
    listing = course.run("list")
    assert listing.exit_code == 0 and "3 lessons" in listing.output and "RMSNorm: why drop the mean?" in listing.output
    shown = course.run("show", "02")
    assert shown.exit_code == 0 and "Cast order" in shown.output
    assert "Quiz" in course.run("show", "2", "--tasks").output
