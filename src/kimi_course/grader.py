"""Run lessons' graded tests in a pytest subprocess and explain the results.

One pytest process runs the tests of all the lessons asked for; ``kimi_course.pytest_plugin``
builds the implementation under test for each lesson (in a temporary folder under the
workspace's ``.kimi-course/``), stops a test that runs past the time limit and reports every
event to a JSON-lines file that is read back here.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Lesson
from .markers import STUB_MESSAGE
from .workspace import STATE_DIR, Built

HANG_FRAME = re.compile(r'File "(.+)", line (\d+) in (\S+)')


@dataclass
class TestResult:
    name: str
    outcome: str = "not run"    # passed, failed, skipped, timeout, not run
    message: str = ""
    frames: list[str] = field(default_factory=list)   # the learner's own frames, innermost last


@dataclass
class LessonResult:
    lesson: Lesson
    tests: dict[str, TestResult] = field(default_factory=dict)
    problem: str = ""           # what stopped the lesson from being graded (collection error, time limit)

    @property
    def passed(self) -> int:
        return sum(test.outcome == "passed" for test in self.tests.values())

    @property
    def ok(self) -> bool:
        return bool(self.tests) and not self.problem and self.passed == len(self.tests)


def explain(lesson: Lesson, exception: str, message: str) -> str:
    """The failure as the learner should read it (stubs of earlier lessons say so)."""
    stub = STUB_MESSAGE.match(message) if exception == "NotImplementedError" else None
    if stub and stub.group(1) != lesson.id:
        return f"finish lesson {stub.group(1)[-2:]} first: {message}"
    if stub:
        return f"not written yet: {message}"
    return message if exception in ("", "AssertionError", "Failed", "Skipped") else f"{exception}: {message}"


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: ours plus ``extra``."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def run_tests(lessons: list[Lesson], impl: str, root: Path, package: Path, workspace: Path | None = None,
              timeout: float = 60) -> dict[str, LessonResult]:
    """Grade ``lessons`` (those with a test_lesson.py) against ``impl``; results by lesson id."""
    results = {lesson.id: LessonResult(lesson) for lesson in lessons if lesson.test_file.exists()}
    if not results:
        return results
    by_folder = {result.lesson.name: result for result in results.values()}
    state = workspace / STATE_DIR if workspace else None  # the lessons' packages are built in ``tmp``
    if state:
        state.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grading-", dir=state) as tmp:
        report = Path(tmp) / "report.jsonl"
        env = python_env(KIMI_COURSE_IMPL=impl, KIMI_COURSE_PACKAGE=str(package), KIMI_COURSE_ROOT=str(root),
                         KIMI_COURSE_WORKSPACE=str(workspace or ""), KIMI_COURSE_TIMEOUT=str(timeout),
                         KIMI_COURSE_REPORT=str(report), KIMI_COURSE_BUILD=tmp, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "kimi_course.pytest_plugin", "-p", "no:cacheprovider",
                   "--import-mode=importlib", f"--rootdir={root}", f"--confcutdir={root}",
                   *(str(result.lesson.test_file) for result in results.values())]
        try:
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,  # a safety net:
                                  timeout=timeout * 10 * len(results) + 60)  # the plugin stops slow tests itself
            output, returncode = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired:
            output, returncode = "", None
        events = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
        hang = Path(f"{report}.hang").read_text() if Path(f"{report}.hang").exists() else ""
    running, built = None, {}
    for event in events:
        path, _, name = event["nodeid"].partition("::")
        result = by_folder.get(Path(path).parent.name)
        if result is None:
            continue
        test = result.tests.setdefault(name, TestResult(name)) if name else None
        if event["event"] == "built":
            built[result.lesson.id] = Built(Path(event["path"]), Path(event["source"]), event["origins"])
        elif event["event"] == "collect_error":
            result.problem = f"the tests could not be collected:\n{event['message']}"
        elif event["event"] == "start":
            running = (result, test)
        elif event["event"] == "result" and test.outcome in ("not run", "passed"):
            test.outcome = event["outcome"]
            test.message = explain(result.lesson, event.get("exception", ""), event.get("message", ""))
            test.frames = event.get("frames", [])
    if running and running[1].outcome == "not run":  # the test that was running when the process ended
        result, test = running
        if hang or returncode is None:
            test.outcome = "timeout"
            test.message = (f"{result.lesson.id}: {test.name} was stopped after {timeout:g} s (the time limit for "
                            "one test). Does your code loop forever or wait for something?")
            frames = [built[result.lesson.id].frame(file, int(line), func) for file, line, func
                      in reversed(HANG_FRAME.findall(hang))] if result.lesson.id in built else []
            test.frames = [frame for frame in frames if frame]
        else:
            test.outcome = "failed"
            test.message = (f"{result.lesson.id}: {test.name} crashed the test process (exit status {returncode}):\n"
                            f"{output[-1500:]}")
        result.problem = test.message
    for result in results.values():
        if not result.tests and not result.problem:
            result.problem = f"no test ran (pytest exit status {returncode}):\n{output[-2000:]}"
    return results
