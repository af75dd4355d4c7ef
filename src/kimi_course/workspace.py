"""The learner's workspace: a stubbed copy of the answer key that never loses their work.

``start`` writes ``<workspace>/<package>_learner/`` (``kimik2_learner``) and records the hash of
every file it wrote in ``<workspace>/.kimi-course/manifest.json``. On a later ``start`` a file
whose hash differs from the manifest was edited by the learner and is left alone.
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import catalog, markers

STATE_DIR = ".kimi-course"


def learner_package(package: Path) -> str:
    """The import name of the learner's copy: ``kimik2`` -> ``kimik2_learner``."""
    return f"{package.name}_learner"


def stub_files(package: Path, root: Path) -> dict[str, bytes]:
    """Relative path -> content of the learner's package: the answer key with solutions stubbed."""
    see = {lesson.id: catalog.display_path(lesson.teaching, root) for lesson in catalog.lessons(root)}
    files = {}
    for rel, path in markers.package_files(package):
        data = path.read_bytes()
        if path.suffix == ".py":
            source = data.decode("utf-8")
            regions = markers.find_regions(source, f"{package.name}/{rel}")
            data = markers.stub(source, regions, see).encode("utf-8")
        files[rel] = data
    return files


def write_stubs(package: Path, root: Path, dest: Path) -> Path:
    """Fresh stubs in ``dest/<package>_learner``; returns that folder."""
    target = dest / learner_package(package)
    for rel, data in stub_files(package, root).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(data)
    return target


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
