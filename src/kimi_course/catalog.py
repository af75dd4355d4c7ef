"""The course on disk: modules, lessons, and how a learner names a lesson.

Layout: ``<course_root>/module_NN_name/lesson_NN_name/`` with ``teaching.md``, ``tasks.md``,
optionally ``code_snippets.py`` and ``test_lesson.py``. The top of ``tasks.md`` carries two
lines the engine reads::

    **Time:** 45 min
    **Prerequisites:** lessons 07, 08      (or: none)
"""

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_COURSE_ROOT = REPO_ROOT / "full_llm_course"
DEFAULT_PACKAGE_DIR = REPO_ROOT / "src" / "kimik2"

MODULE_DIR = re.compile(r"^module_(\d{2})_\w+$")
LESSON_DIR = re.compile(r"^lesson_(\d{2})_\w+$")
TIME_LINE = re.compile(r"^\*\*Time:\*\*\s*(.+?)\s*$", re.MULTILINE)
PREREQ_LINE = re.compile(r"^\*\*Prerequisites:\*\*\s*(.+?)\s*$", re.MULTILINE)


class CourseError(Exception):
    """A problem the user can fix; the message says how."""


def course_root(override: Path | None = None) -> Path:
    """The course folder: ``override``, else ``$KIMI_COURSE_ROOT``, else ``full_llm_course/``."""
    return Path(override or os.environ.get("KIMI_COURSE_ROOT") or DEFAULT_COURSE_ROOT).resolve()


def package_dir(override: Path | None = None) -> Path:
    """The answer-key package: ``override``, else ``$KIMI_COURSE_PACKAGE``, else ``src/kimik2``."""
    return Path(override or os.environ.get("KIMI_COURSE_PACKAGE") or DEFAULT_PACKAGE_DIR).resolve()


@dataclass(frozen=True)
class Lesson:
    number: int
    path: Path

    @property
    def id(self) -> str:
        return f"lesson_{self.number:02d}"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def module(self) -> str:
        return self.path.parent.name

    @property
    def teaching(self) -> Path:
        return self.path / "teaching.md"

    @property
    def tasks(self) -> Path:
        return self.path / "tasks.md"

    @property
    def test_file(self) -> Path:
        return self.path / "test_lesson.py"

    @property
    def title(self) -> str:
        """The first ``# `` heading of teaching.md (the folder name if there is none)."""
        if self.teaching.exists():
            for line in self.teaching.read_text(encoding="utf-8").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
        return self.name

    @cached_property
    def _tasks_text(self) -> str:
        return self.tasks.read_text(encoding="utf-8") if self.tasks.exists() else ""

    @property
    def time(self) -> str | None:
        match = TIME_LINE.search(self._tasks_text)
        return match.group(1) if match else None

    @property
    def prerequisites(self) -> list[int] | None:
        """Lesson numbers from the ``**Prerequisites:**`` line ([] for "none", None if missing)."""
        match = PREREQ_LINE.search(self._tasks_text)
        return [int(n) for n in re.findall(r"\d+", match.group(1))] if match else None


def modules(root: Path) -> list[Path]:
    """Module folders in order (none if the course does not exist yet)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and MODULE_DIR.match(p.name))


def lessons(root: Path) -> list[Lesson]:
    """Every lesson folder, in module then lesson order."""
    found = []
    for module in modules(root):
        for path in sorted(module.iterdir()):
            match = LESSON_DIR.match(path.name)
            if path.is_dir() and match:
                found.append(Lesson(int(match.group(1)), path))
    return found


def find(root: Path, address: str) -> Lesson:
    """The lesson named by ``8``, ``08``, ``lesson_08`` or its folder name."""
    all_lessons = lessons(root)
    match = re.fullmatch(r"(?:lesson_)?(\d+)", address.strip())
    for lesson in all_lessons:
        if lesson.name == address or (match and int(match.group(1)) == lesson.number):
            return lesson
    if not all_lessons:
        raise CourseError(f"no lessons found in {root} (set KIMI_COURSE_ROOT to use another course)")
    raise CourseError(f"no lesson {address!r}. Valid lessons: {number_ranges(l.number for l in all_lessons)} "
                      f"(write 8, 08, lesson_08 or the folder name; `kimi-course list` shows them all)")


def number_ranges(numbers) -> str:
    """``1, 2, 3, 5`` -> ``"01-03, 05"``."""
    spans: list[list[int]] = []
    for n in sorted(set(numbers)):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a:02d}" if a == b else f"{a:02d}-{b:02d}" for a, b in spans)


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to the folder that holds the course (as a learner would type it)."""
    try:
        return path.relative_to(root.parent).as_posix()
    except ValueError:
        return str(path)
