"""The learner's record: ``<workspace>/.kimi-course/progress.json``.

``{"checks": {"lesson_08": {"passed": 3, "total": 3}}, "quizzes": {"lesson_08": {"score": 2, "total": 3, "best": 3}}}``
"""

import json
from datetime import datetime, timezone
from pathlib import Path

from .workspace import STATE_DIR


def _path(workspace: Path) -> Path:
    return workspace / STATE_DIR / "progress.json"


def load(workspace: Path) -> dict:
    path = _path(workspace)
    data = json.loads(path.read_text()) if path.exists() else {}
    return {"checks": data.get("checks", {}), "quizzes": data.get("quizzes", {})}


def _save(workspace: Path, data: dict) -> None:
    _path(workspace).parent.mkdir(parents=True, exist_ok=True)
    _path(workspace).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_check(workspace: Path, lesson_id: str, passed: int, total: int) -> None:
    data = load(workspace)
    data["checks"][lesson_id] = {"passed": passed, "total": total, "when": _now()}
    _save(workspace, data)


def record_quiz(workspace: Path, lesson_id: str, score: int, total: int) -> None:
    data = load(workspace)
    best = max(score, data["quizzes"].get(lesson_id, {}).get("best", 0))
    data["quizzes"][lesson_id] = {"score": score, "total": total, "best": best, "when": _now()}
    _save(workspace, data)
