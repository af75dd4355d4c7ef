"""The learner's workspace: a stubbed copy of the answer key that never loses their work.

``start`` writes ``<workspace>/<package>_learner/`` (``kimik2_learner``) and records the hash of
every file it wrote in ``<workspace>/.kimi-course/manifest.json``. On a later ``start`` a file
whose hash differs from the manifest was edited by the learner and is left alone.

``build`` makes the package that grades one lesson: the learner's code up to that lesson, the
answer key's for every later one, so a lesson's tests can build the whole model.
"""

import hashlib
import json
import linecache
from dataclasses import dataclass, field
from pathlib import Path

from . import catalog, markers

STATE_DIR = ".kimi-course"


def learner_package(package: Path) -> str:
    """The import name of the learner's copy: ``kimik2`` -> ``kimik2_learner``."""
    return f"{package.name}_learner"


def _see(root: Path) -> dict[str, str]:
    """Lesson id -> its teaching.md as the learner would type it (named in stub messages)."""
    return {lesson.id: catalog.display_path(lesson.teaching, root) for lesson in catalog.lessons(root)}


def stub_files(package: Path, root: Path) -> dict[str, bytes]:
    """Relative path -> content of the learner's package: the answer key with solutions stubbed."""
    see, files = _see(root), {}
    for rel, path in markers.package_files(package):
        data = path.read_bytes()
        if path.suffix == ".py":
            source = data.decode("utf-8")
            regions = markers.find_regions(source, f"{package.name}/{rel}")
            data = markers.stub(source, regions, see).encode("utf-8")
        files[rel] = data
    return files


@dataclass
class Built:
    """A package built to grade one lesson, and where its lines came from."""
    path: Path                      # the package folder that is imported
    source: Path                    # the folder its lines are reported against (the learner's package)
    origins: dict[str, list[int]]   # file -> line in ``source`` of each line (0: answer-key code); absent: same

    def frame(self, filename: str, lineno: int, function: str) -> str | None:
        """``kimik2_learner/norm.py:19 in forward: <code>`` for a line of the learner's code, else None."""
        if not Path(filename).is_relative_to(self.path):
            return None
        rel = Path(filename).relative_to(self.path).as_posix()
        line = self.origins[rel][lineno - 1] if rel in self.origins else lineno
        code = linecache.getline(str(self.source / rel), line).strip()
        return f"{self.source.name}/{rel}:{line} in {function}: {code}" if line else None


def build(package: Path, root: Path, number: int, dest: Path, learner: Path | None = None) -> Built:
    """The package that grades lesson ``number``, written to ``dest/<package>_learner``.

    With ``learner`` (their package folder): the learner's files, each region of a later lesson
    filled in from the answer key (files they lack: the stubs, filled the same way). Without: the
    answer key with only lesson ``number`` stubbed, on which every test of the lesson must fail."""
    target, see = dest / learner_package(package), _see(root)
    files, origins = {}, {}
    for rel, path in markers.package_files(package):
        data, mine = path.read_bytes(), learner / rel if learner else None
        if path.suffix == ".py":
            key = data.decode("utf-8")
            regions = markers.find_regions(key, f"{package.name}/{rel}")
            if mine is None:
                data = markers.stub(key, [r for r in regions if r.lesson == f"lesson_{number:02d}"], see).encode()
            else:
                source = mine.read_text("utf-8") if mine.exists() else markers.stub(key, regions, see)
                text, lines = markers.fill(source, key, f"{target.name}/{rel}", number)
                data, origins[rel] = text.encode(), lines if mine.exists() else [0] * len(lines)
        elif mine and mine.exists():
            data = mine.read_bytes()
        files[rel] = data
    for rel, path in markers.package_files(learner) if learner else ():
        files.setdefault(rel, path.read_bytes())  # the learner's own new files
    for rel, data in files.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(data)
    return Built(target, learner or target, origins)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class StartReport:
    added: list[str] = field(default_factory=list)      # new files (or ones the learner deleted)
    updated: list[str] = field(default_factory=list)    # untouched files that changed upstream
    kept: list[str] = field(default_factory=list)       # edited by the learner: left alone


def start(workspace: Path, package: Path, root: Path) -> StartReport:
    """Create or refresh the workspace without overwriting anything the learner changed."""
    manifest_path = workspace / STATE_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    report = StartReport()
    for rel, data in stub_files(package, root).items():
        name = f"{learner_package(package)}/{rel}"
        path = workspace / name
        if path.exists():
            current = _sha(path.read_bytes())
            if current == _sha(data):
                manifest[name] = current
                continue
            if manifest.get(name) != current:
                report.kept.append(name)
                continue
            report.updated.append(name)
        else:
            report.added.append(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        manifest[name] = _sha(data)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return report
