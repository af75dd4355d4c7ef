"""pytest plugin for graded lesson tests (``pytest -p kimi_course.pytest_plugin``).

Fixtures: ``impl`` (the implementation under test) and ``reference`` (the answer key).
``impl`` is scoped to the lesson of the test file's folder (``lesson_NN_name``): for lesson NN it
is built (``workspace.build``) with every later lesson's code from the answer key, and imported
as ``<package>_learner_lNN`` so one process can grade many lessons. Environment:

- ``KIMI_COURSE_IMPL``: ``reference`` (default: the answer key itself), ``workspace`` (the
  learner's code up to lesson NN) or ``stub`` (the answer key with only lesson NN stubbed);
- ``KIMI_COURSE_WORKSPACE``: the workspace folder for ``workspace`` (default ``./workspace``);
- ``KIMI_COURSE_BUILD``: where to build the packages (default: a temporary folder);
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

from . import catalog, markers, workspace

BUILT = pytest.StashKey[dict]()         # lesson number -> workspace.Built, the implementation under test
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


@pytest.fixture
def one_thread():
    """torch on one thread for the test, then back: for tests of many tiny matmuls, where thread
    hand-offs cost more than they save. Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def lesson_number(path: Path) -> int | None:
    """The lesson of a test file, from its folder ``lesson_NN_name``."""
    match = catalog.LESSON_DIR.match(Path(path).parent.name)
    return int(match.group(1)) if match else None


@pytest.fixture(scope="module")
def impl(request, tmp_path_factory) -> ModuleType:
    """The implementation under test, chosen by ``KIMI_COURSE_IMPL`` and scoped to this file's lesson."""
    kind, package = os.environ.get("KIMI_COURSE_IMPL", "reference"), catalog.package_dir()
    number = lesson_number(request.path)
    if kind not in ("reference", "workspace", "stub"):
        raise pytest.UsageError(f"KIMI_COURSE_IMPL={kind!r}: use reference, workspace or stub")
    built = request.config.stash.setdefault(BUILT, {})
    if kind == "reference":
        built[number] = workspace.Built(package, package, {})
        return import_package(package, package.name)
    if number is None:
        pytest.fail(f"{request.path.name}: impl grades the lesson of its folder, so it must lie in a lesson_NN_name "
                    "folder", pytrace=False)
    if number not in built:
        learner = None
        if kind == "workspace":
            learner = Path(os.environ.get("KIMI_COURSE_WORKSPACE") or "workspace").resolve()
            learner = learner / workspace.learner_package(package)
            if not (learner / "__init__.py").exists():
                pytest.fail(f"no workspace package at {learner}: run `kimi-course start` first", pytrace=False)
        dest = Path(os.environ.get("KIMI_COURSE_BUILD") or tmp_path_factory.mktemp("build")) / f"lesson_{number:02d}"
        try:
            built[number] = workspace.build(package, catalog.course_root(), number, dest, learner)
        except markers.MarkerError as error:
            pytest.fail(str(error), pytrace=False)
        _record(event="built", nodeid=request.node.nodeid, path=str(built[number].path),
                source=str(built[number].source), origins=built[number].origins)
    return import_package(built[number].path, f"{built[number].path.name}_l{number:02d}")


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
        built = item.config.stash.get(BUILT, {}).get(lesson_number(item.path))
        _record(event="result", nodeid=item.nodeid, outcome=report.outcome, **_describe(call.excinfo, built))
    return report


def _describe(excinfo, built: workspace.Built | None) -> dict:
    """Exception type, message and the frames that lie in the learner's code under test."""
    if excinfo is None:
        return {}
    error = excinfo.value
    frames = [(frame.filename, frame.lineno, frame.name) for frame in traceback.extract_tb(excinfo.tb)]
    if isinstance(error, SyntaxError) and error.filename:
        frames.append((error.filename, error.lineno, "<module>"))
    mine = [where for frame in frames if built and (where := built.frame(*frame))]
    return {"exception": type(error).__name__, "message": str(error), "frames": mine}
