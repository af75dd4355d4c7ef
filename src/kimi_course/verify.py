"""``kimi-course verify``: prove the course is honest, reporting every failure at once.

Checks (names usable with ``only``):

- tests: every graded test passes on the answer key;
- stubs: every graded test of lesson NN fails on the answer key with only lesson NN's code
  stubbed (otherwise it cannot fail, or does not test lesson NN);
- blocks: the ```python blocks of each teaching.md / tasks.md run, in order, in a fresh process;
- snippets: every code_snippets.py runs;
- quizzes: every quiz parses and its answers are valid;
- links: every relative link and image in the course's .md files exists;
- structure: folder names and contiguous numbering (and the seed names in the real course),
  teaching.md / tasks.md with their title, time and prerequisites, tests that use the fixtures;
- markers: markers are balanced, not nested, name a lesson, and match the lessons with tests.
"""

import math
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import catalog, grader, markers, quiz
from .catalog import Lesson, display_path

CHECKS = ("tests", "stubs", "blocks", "snippets", "quizzes", "links", "structure", "markers")
SEED = {
    "module_01_introduction": ["lesson_01_llm_basics", "lesson_02_kimi_k2_overview"],
    "module_02_embeddings": ["lesson_03_embed_tokens_init", "lesson_04_embed_tokens_forward",
                             "lesson_05_get_set_embeddings", "lesson_06_init_weights_for_embeds"],
    "module_03_rms_norm": ["lesson_07_deepseekv3_rms_norm_init", "lesson_08_deepseekv3_rms_norm_forward"],
    "module_04_rotary_embedding": [
        "lesson_09_standard_rotary_init", "lesson_10_standard_rotary_cache", "lesson_11_standard_rotary_forward",
        "lesson_12_linear_scaling_init", "lesson_13_linear_scaling_cache", "lesson_14_linear_scaling_forward",
        "lesson_15_dynamic_ntk_init", "lesson_16_dynamic_ntk_cache", "lesson_17_dynamic_ntk_forward",
        "lesson_18_rotary_embedding_class"],
}
FENCE_OPEN = re.compile(r"^```\s*([\w+-]*)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)|<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']")
LESSONS_PER_RUN = 10  # lessons graded by one pytest process (each process pays for importing torch)
URL = re.compile(r"^([a-zA-Z][\w+.-]*:|#)")


@dataclass
class Failure:
    check: str
    where: str
    message: str


@dataclass
class Report:
    lessons: int
    checks: tuple[str, ...]
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        head = f"verify: {self.lessons} lessons, checks {', '.join(self.checks)}"
        if self.ok:
            return f"{head}: all passed"
        counts = {check: sum(f.check == check for f in self.failures) for check in self.checks}
        return f"{head}: {len(self.failures)} failed ({', '.join(f'{c} {n}' for c, n in counts.items() if n)})"


def run_verify(course_root: Path, package_dir: Path, only=None, jobs: int = 2, timeout: float = 120,
               seed_names: bool | None = None) -> Report:
    """Run the checks in ``only`` (default: all) on the course; lessons run in parallel over ``jobs``."""
    root, package = Path(course_root).resolve(), Path(package_dir).resolve()
    checks = tuple(c for c in CHECKS if not only or c in only)
    if seed_names is None:
        seed_names = root == catalog.DEFAULT_COURSE_ROOT.resolve()
    lessons = catalog.lessons(root)
    report = Report(len(lessons), checks)
    regions, marker_error = [], None
    try:
        regions = markers.scan(package)
    except markers.MarkerError as error:
        marker_error = str(error)
    if "structure" in checks:
        report.failures += check_structure(root, package, lessons, seed_names)
    if "markers" in checks:
        report.failures += check_markers(root, lessons, regions, marker_error, report.notes)
    if "quizzes" in checks:
        report.failures += [failure for lesson in lessons if lesson.tasks.exists() for failure in check_quiz(lesson, root)]
    if "links" in checks and root.is_dir():
        for md in sorted(root.rglob("*.md")):
            report.failures += check_links(md, root)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = []
        graded = [lesson for lesson in lessons if lesson.test_file.exists()]
        marked = {region.lesson for region in regions}  # a lesson with tests but no markers fails `markers`
        for impl, check, chosen in (("reference", "tests", graded),
                                    ("stub", "stubs", [lesson for lesson in graded if lesson.id in marked])):
            parts = max(1, min(jobs, math.ceil(len(chosen) / LESSONS_PER_RUN)))
            if check in checks and chosen and not (check == "stubs" and marker_error):
                futures += [pool.submit(check_tests, chosen[i::parts], impl, root, package, timeout)
                            for i in range(parts)]
        for lesson in lessons:
            if "blocks" in checks:
                futures += [pool.submit(check_blocks, md, root, package, timeout)
                            for md in (lesson.teaching, lesson.tasks) if md.exists()]
            if "snippets" in checks and (lesson.path / "code_snippets.py").exists():
                futures.append(pool.submit(check_snippets, lesson, root, package, timeout))
        for future in futures:
            report.failures += future.result()
    report.failures.sort(key=lambda f: (CHECKS.index(f.check), f.where))
    return report


def check_structure(root: Path, package: Path, lessons: list[Lesson], seed_names: bool) -> list[Failure]:
    failures = []
    for folder, kind, pattern in [(root, "module", catalog.MODULE_DIR)] + [
            (module, "lesson", catalog.LESSON_DIR) for module in catalog.modules(root)]:
        for child in sorted(folder.iterdir()) if folder.is_dir() else []:
            if child.is_dir() and child.name.startswith(kind) and not pattern.match(child.name):
                failures.append(Failure("structure", display_path(child, root),
                                        f"not a {kind} folder name: write {kind}_NN_name (two digits, then a name)"))
    for kind, numbers in (("module", [int(catalog.MODULE_DIR.match(m.name).group(1)) for m in catalog.modules(root)]),
                          ("lesson", [lesson.number for lesson in lessons])):
        if numbers != list(range(1, len(numbers) + 1)):
            failures.append(Failure("structure", display_path(root, root), f"{kind} numbers must run 01, 02, ... in order "
                                    f"without gaps or repeats; found {', '.join(f'{n:02d}' for n in numbers)}"))
    for module in catalog.modules(root) if seed_names else []:
        number = int(catalog.MODULE_DIR.match(module.name).group(1))
        expected = list(SEED)[number - 1] if number <= len(SEED) else None
        found = sorted(p.name for p in module.iterdir() if catalog.LESSON_DIR.match(p.name))
        if expected and (module.name != expected or found != SEED[expected]):
            failures.append(Failure("structure", display_path(module, root), f"the seed fixes this module as {expected} "
                                    f"with {', '.join(SEED[expected])}; found {module.name} with {', '.join(found)}"))
    known = {lesson.number for lesson in lessons}
    key_import = re.compile(rf"^\s*(from|import)\s+{re.escape(package.name)}\b", re.MULTILINE)
    for lesson in lessons:
        where = display_path(lesson.path, root)
        if not lesson.teaching.exists() or lesson.title == lesson.name:
            failures.append(Failure("structure", where, "needs a teaching.md that starts with a `# Title` heading"))
        if lesson.time is None or lesson.prerequisites is None:
            failures.append(Failure("structure", where, "tasks.md needs `**Time:** 45 min` and "
                                    "`**Prerequisites:** lessons 07, 08` (or `none`) lines at the top"))
        for number in lesson.prerequisites or []:
            if number not in known or number >= lesson.number:
                failures.append(Failure("structure", where, f"prerequisite {number:02d} is not an earlier lesson"))
        if lesson.test_file.exists() and key_import.search(lesson.test_file.read_text(encoding="utf-8")):
            failures.append(Failure("structure", display_path(lesson.test_file, root), f"imports {package.name} directly: "
                                    "use the `reference` fixture so the grader controls what is tested"))
    return failures


def check_markers(root: Path, lessons: list[Lesson], regions: list[markers.Region], marker_error: str | None,
                  notes: list[str]) -> list[Failure]:
    if marker_error:
        return [Failure("markers", *marker_error.split(": ", 1))]
    failures, by_id = [], {lesson.id: lesson for lesson in lessons}
    last = max((lesson.number for lesson in lessons), default=0)
    later = sorted({r.lesson for r in regions if r.lesson not in by_id and int(r.lesson[-2:]) > last})
    if later:
        notes.append(f"markers for lessons not written yet (not checked): {', '.join(later)}")
    for region in regions:
        if region.lesson not in by_id and region.lesson not in later:
            failures.append(Failure("markers", f"{region.file}:{region.begin}", f"{region.lesson} is not a lesson "
                                    f"of the course (lessons: {catalog.number_ranges(l.number for l in lessons)})"))
    marked = {r.lesson for r in regions}
    for lesson in lessons:
        if lesson.id in marked and not lesson.test_file.exists():
            failures.append(Failure("markers", display_path(lesson.path, root),
                                    "has solution markers but no test_lesson.py"))
        if lesson.test_file.exists() and lesson.id not in marked:
            failures.append(Failure("markers", display_path(lesson.test_file, root),
                                    f"no `# BEGIN SOLUTION {lesson.id}` region in the answer key for these tests"))
    return failures


def check_quiz(lesson: Lesson, root: Path) -> list[Failure]:
    try:
        quiz.parse(lesson.tasks.read_text(encoding="utf-8"), display_path(lesson.tasks, root))
    except quiz.QuizError as error:
        return [Failure("quizzes", *str(error).split(": ", 1))]
    return []


def check_tests(lessons: list[Lesson], impl: str, root: Path, package: Path, timeout: float) -> list[Failure]:
    failures = []
    for result in grader.run_tests(lessons, impl, root, package, timeout=timeout).values():
        where = display_path(result.lesson.test_file, root)
        if result.problem and impl == "reference":
            failures.append(Failure("tests", where, result.problem))
        for test in result.tests.values():
            if impl == "reference" and test.outcome != "passed":
                failures.append(Failure("tests", f"{where}::{test.name}", f"{test.outcome} on the answer key: "
                                        f"{test.message}"))
            if impl == "stub" and test.outcome == "passed":
                number = f"{result.lesson.number:02d}"
                failures.append(Failure("stubs", f"{where}::{test.name}", f"passes with lesson {number}'s code stubbed "
                                        f"out, so it cannot fail: it does not depend on lesson {number}'s code"))
    return failures


def markdown_lines(text: str):
    """(line number, line, language of the code block around it or None); fence lines give ``"fence"``."""
    language = None
    for number, line in enumerate(text.splitlines(), 1):
        opening = FENCE_OPEN.match(line) if language is None else None
        if opening:
            language = opening.group(1).lower()
            yield number, line, "fence"
        elif language is not None and line.strip() == "```":
            language = None
            yield number, line, "fence"
        else:
            yield number, line, language


def check_links(md: Path, root: Path) -> list[Failure]:
    failures = []
    for number, line, language in markdown_lines(md.read_text(encoding="utf-8")):
        for match in LINK.finditer(line) if language is None else ():
            target = match.group(1) or match.group(2)
            path = target.split("#")[0].split("?")[0]
            if not URL.match(target) and path and not (md.parent / path).exists():
                failures.append(Failure("links", f"{display_path(md, root)}:{number}", f"{target} does not exist"))
    return failures


def _python(args: list[str], cwd: Path, package: Path, timeout: float) -> str | None:
    """Run Python in a fresh process; None if it succeeded, else the end of what it printed."""
    path = os.pathsep.join([str(cwd), str(package.parent), os.environ.get("PYTHONPATH", "")])
    try:
        done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=grader.python_env(PYTHONPATH=path, MPLBACKEND="Agg"))
    except subprocess.TimeoutExpired:
        return f"did not finish in {timeout:g} s"
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[-1500:] or f"exit {done.returncode}"


def check_blocks(md: Path, root: Path, package: Path, timeout: float) -> list[Failure]:
    """Run the file's ```python blocks as one script whose line numbers are the file's."""
    lines = list(markdown_lines(md.read_text(encoding="utf-8")))
    starts = [n for i, (n, _, lang) in enumerate(lines) if lang == "python" and (i == 0 or lines[i - 1][2] != "python")]
    if not starts:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / md.name
        script.write_text("\n".join(line if lang == "python" else "" for _, line, lang in lines) + "\n")
        error = _python([str(script)], md.parent, package, timeout)
    if error is None:
        return []
    failing = [int(n) for n in re.findall(rf'File "{re.escape(str(script))}", line (\d+)', error)]
    line = failing[-1] if failing else starts[-1]
    start = max([s for s in starts if s <= line] or starts[:1])
    return [Failure("blocks", f"{display_path(md, root)}:{line}", f"python block at line {start} fails:\n{error}")]


def lesson_files(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` (caches aside) with its bytes."""
    return {path: path.read_bytes() for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def check_snippets(lesson: Lesson, root: Path, package: Path, timeout: float) -> list[Failure]:
    """Run the lesson's code_snippets.py, then put its folder back as it was: verify proves the
    snippet runs without rewriting the course (figures of timings differ at every run; refresh
    figures by running the snippet yourself)."""
    before = lesson_files(lesson.path)
    try:
        error = _python(["code_snippets.py"], lesson.path, package, timeout)
    finally:
        for path, data in lesson_files(lesson.path).items():
            if path not in before:
                path.unlink()
            elif data != before[path]:
                path.write_bytes(before[path])
    return [] if error is None else [Failure("snippets", display_path(lesson.path / "code_snippets.py", root), error)]
