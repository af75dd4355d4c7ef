"""Engine tests run on a copy of a small fixture course (tests/engine/fixture_course)."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kimi_course import cli

FIXTURE = Path(__file__).parent / "fixture_course"
collect_ignore_glob = ["fixture_course/*"]  # the fixture's lesson tests run only through the engine


@dataclass
class Course:
    root: Path       # the course folder
    package: Path    # the answer key (minikey)
    workspace: Path

    def lesson(self, folder: str) -> Path:
        return next(self.root.glob(f"module_*/{folder}"))

    def run(self, *args: str):
        """Invoke the CLI; returns typer's Result (exit_code, output)."""
        return CliRunner().invoke(cli.app, list(args))


@pytest.fixture
def course(tmp_path, monkeypatch) -> Course:
    shutil.copytree(FIXTURE, tmp_path / "fixture", ignore=shutil.ignore_patterns("__pycache__"))
    copy = Course(tmp_path / "fixture" / "course", tmp_path / "fixture" / "src" / "minikey", tmp_path / "ws")
    monkeypatch.setenv("KIMI_COURSE_ROOT", str(copy.root))
    monkeypatch.setenv("KIMI_COURSE_PACKAGE", str(copy.package))
    monkeypatch.setenv("KIMI_COURSE_WORKSPACE", str(copy.workspace))
    monkeypatch.setattr(cli.console, "width", 250)  # no wrapping inside table cells
    return copy
