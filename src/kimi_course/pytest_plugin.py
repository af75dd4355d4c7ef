"""pytest plugin for graded lesson tests (``pytest -p kimi_course.pytest_plugin``).

Fixtures: ``impl`` (the implementation under test) and ``reference`` (the answer key).
Environment:

- ``KIMI_COURSE_IMPL``: ``reference`` (default), ``workspace`` or ``stub`` (fresh stubs);
- ``KIMI_COURSE_WORKSPACE``: the workspace folder for ``workspace`` (default ``./workspace``);
- ``KIMI_COURSE_PACKAGE`` / ``KIMI_COURSE_ROOT``: answer key and course (see ``catalog``);
- ``KIMI_COURSE_TIMEOUT``: seconds one test may run before the process is stopped;
- ``KIMI_COURSE_REPORT``: a file the engine reads (one JSON event per line).
"""

import faulthandler
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

import pytest

from . import catalog, workspace

IMPL_DIR = pytest.StashKey[Path]()      # where the implementation under test lives
HANG_FILE = pytest.StashKey[object]()   # where faulthandler writes the stack of a test that ran too long


def import_package(path: Path, name: str) -> ModuleType:
    """Import the package folder ``path`` under ``name`` (its imports are relative)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    """The answer key (``kimik2``)."""
    package = catalog.package_dir()
    return import_package(package, package.name)


@pytest.fixture(scope="session")
def impl(request, tmp_path_factory) -> ModuleType:
    """The implementation under test, chosen by ``KIMI_COURSE_IMPL``."""
    kind, package = os.environ.get("KIMI_COURSE_IMPL", "reference"), catalog.package_dir()
    if kind == "reference":
        path = package
    elif kind == "workspace":
        path = Path(os.environ.get("KIMI_COURSE_WORKSPACE", "workspace")).resolve() / workspace.learner_package(package)
        if not (path / "__init__.py").exists():
            pytest.fail(f"no workspace package at {path}: run `kimi-course start` first", pytrace=False)
    elif kind == "stub":
        path = workspace.write_stubs(package, catalog.course_root(), tmp_path_factory.mktemp("stubs"))
    else:
        raise pytest.UsageError(f"KIMI_COURSE_IMPL={kind!r}: use reference, workspace or stub")
    request.config.stash[IMPL_DIR] = path
    return import_package(path, path.name)


def _record(**event) -> None:
    if path := os.environ.get("KIMI_COURSE_REPORT"):
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(event) + "\n")


def pytest_configure(config) -> None:
    if path := os.environ.get("KIMI_COURSE_REPORT"):
        config.stash[HANG_FILE] = open(path + ".hang", "w")
        config.add_cleanup(config.stash[HANG_FILE].close)



def pytest_collection_modifyitems(items) -> None:
    for item in items:
        _record(event="collected", nodeid=item.nodeid)


def pytest_collectreport(report) -> None:
    if report.failed:
        _record(event="collect_error", nodeid=report.nodeid, message=report.longreprtext[-3000:])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _record(event="start", nodeid=item.nodeid)
    limit = float(os.environ.get("KIMI_COURSE_TIMEOUT") or 0)
    if limit:
        faulthandler.dump_traceback_later(limit, exit=True, file=item.config.stash.get(HANG_FILE, sys.__stderr__))
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" or not report.passed:
        impl_dir = item.config.stash.get(IMPL_DIR, None)
        _record(event="result", nodeid=item.nodeid, outcome=report.outcome, **_describe(call.excinfo, impl_dir))
    return report


def _describe(excinfo, impl_dir: Path | None) -> dict:
    """Exception type, message and the frames that lie in the implementation under test."""
    if excinfo is None:
        return {}
    error = excinfo.value
    frames = [(frame.filename, frame.lineno, frame.name, frame.line) for frame in traceback.extract_tb(excinfo.tb)]
    if isinstance(error, SyntaxError) and error.filename:
        frames.append((error.filename, error.lineno, "<module>", (error.text or "").strip()))
    mine = []
    for filename, lineno, name, line in frames:
        if impl_dir and Path(filename).is_relative_to(impl_dir):
            mine.append(f"{Path(filename).relative_to(impl_dir.parent).as_posix()}:{lineno} in {name}: {line}")
    return {"exception": type(error).__name__, "message": str(error), "frames": mine}
