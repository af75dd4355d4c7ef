"""Quizzes: the ``## Quiz`` section of tasks.md, parsed strictly (format: QUIZ_FORMAT.md)."""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

SECTION = re.compile(r"^## Quiz\s*$")
QUESTION = re.compile(r"^\*\*Q(\d+)\.\*\*\s*(.*)$")
OPTION = re.compile(r"^- ([a-z])\)\s+(.+)$")
ANSWER = re.compile(r"^\*\*Answer:\*\*\s*(.*)$")
WHY = re.compile(r"^\*\*Why:\*\*\s*(.*)$")
HTML = re.compile(r"^</?(details|summary)\b.*$")
NUMBER = re.compile(r"^([-+]?[\d.]+(?:[eE][-+]?\d+)?)(?:\s*(?:±|\+-|\+/-)\s*([\d.]+(?:[eE][-+]?\d+)?))?$")


class QuizError(Exception):
    """A malformed quiz; the message starts with file:line."""


@dataclass
class Question:
    number: int
    line: int
    text: str
    options: dict[str, str] = field(default_factory=dict)
    answer: str = ""          # a letter, or the text of a numeric answer ("0.5 ± 0.01")
    value: float = 0.0        # numeric questions: correct if |given - value| <= tolerance
    tolerance: float = 0.0
    why: str = ""

    @property
    def numeric(self) -> bool:
        return not self.options

    def is_correct(self, given: str) -> bool:
        """Whether ``given`` answers the question; ValueError (saying what to type) if it cannot."""
        given = given.strip().lower()
        if not self.numeric:
            if given not in self.options:
                raise ValueError(f"answer with one of {', '.join(self.options)}")
            return given == self.answer
        try:
            value = float(given)
        except ValueError:
            raise ValueError("answer with a number") from None
        return math.isfinite(value) and abs(value - self.value) <= self.tolerance + 1e-12


def parse(text: str, file: str = "tasks.md") -> list[Question]:
    """The questions of the ``## Quiz`` section; QuizError names the line of any problem."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if SECTION.match(line)]
    if len(starts) != 1:
        raise QuizError(f"{file}: expected exactly one `## Quiz` section, found {len(starts)}")
    questions: list[Question] = []
    for number, raw in enumerate(lines[starts[0] + 1:], starts[0] + 2):
        line = raw.strip()
        if raw.startswith("# ") or raw.startswith("## "):
            break
        where = f"{file}:{number}"
        current = questions[-1] if questions else None
        if not line or HTML.match(line):
            continue
        if match := QUESTION.match(line):
            if current:
                _finish(current, file)
            if int(match.group(1)) != len(questions) + 1:
                raise QuizError(f"{where}: expected **Q{len(questions) + 1}.**, found **Q{match.group(1)}.**")
            questions.append(Question(len(questions) + 1, number, match.group(2)))
        elif current is None:
            continue  # an introduction before the first question
        elif match := OPTION.match(line):
            expected = chr(ord("a") + len(current.options))
            if current.answer or match.group(1) != expected:
                raise QuizError(f"{where}: option `{match.group(1)})` out of place (expected `- {expected}) ...` "
                                "before the **Answer:** line)")
            current.options[expected] = match.group(2)
        elif match := ANSWER.match(line):
            if current.answer:
                raise QuizError(f"{where}: Q{current.number} has a second **Answer:** line")
            current.answer = match.group(1).strip() or "?"
            _check_answer(current, where)
        elif match := WHY.match(line):
            if not current.answer or current.why:
                raise QuizError(f"{where}: **Why:** must follow Q{current.number}'s **Answer:** line, once")
            current.why = match.group(1).strip()
        elif current.options or current.answer:
            raise QuizError(f"{where}: unexpected text {line[:40]!r} in Q{current.number} (expected `- x) option`, "
                            "`**Answer:** ...`, `**Why:** ...` or <details>/<summary> lines)")
        else:
            current.text += "\n" + line
    if not questions:
        raise QuizError(f"{file}:{starts[0] + 1}: the quiz has no questions (start each with **Q1.**, **Q2.** ...)")
    _finish(questions[-1], file)
    return questions


def _check_answer(question: Question, where: str) -> None:
    if question.options:
        if question.answer.lower() not in question.options:
            raise QuizError(f"{where}: Q{question.number}'s answer {question.answer!r} is not one of its options "
                            f"({', '.join(question.options)})")
        question.answer = question.answer.lower()
        return
    match = NUMBER.match(question.answer)
    if not match:
        raise QuizError(f"{where}: Q{question.number} has no options, so its answer must be a number "
                        f"like `7168` or `0.5 ± 0.01`, not {question.answer!r}")
    try:
        question.value, question.tolerance = float(match.group(1)), float(match.group(2) or 0)
    except ValueError:
        raise QuizError(f"{where}: Q{question.number}: {question.answer!r} is not a number") from None


def _finish(question: Question, file: str) -> None:
    if not question.answer or not question.why:
        raise QuizError(f"{file}:{question.line}: Q{question.number} needs an **Answer:** line and a **Why:** line")
    if len(question.options) == 1:
        raise QuizError(f"{file}:{question.line}: Q{question.number} has a single option; give two or more")


def load(tasks: Path) -> list[Question]:
    return parse(tasks.read_text(encoding="utf-8"), tasks.as_posix())
