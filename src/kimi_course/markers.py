"""Solution markers in the answer key, and the stubs that replace them.

A solution is a block of lines inside a function body, fenced by two comment lines at the
indentation of the code::

    # BEGIN SOLUTION lesson_08
    ...real code...
    # END SOLUTION

The stub keeps both marker lines and replaces what lies between them with
``raise NotImplementedError("lesson_08: Class.method - see <teaching.md>")``.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION (lesson_\d{2})\s*$")
END = re.compile(r"^(\s*)# END SOLUTION\s*$")
STUB_MESSAGE = re.compile(r"^(lesson_\d{2}):")


class MarkerError(Exception):
    """Unbalanced, nested or misplaced markers; the message starts with file:line."""


@dataclass(frozen=True)
class Region:
    file: str        # path relative to the package folder, posix style
    lesson: str      # "lesson_08"
    begin: int       # 1-based line of BEGIN
    end: int         # 1-based line of END
    indent: str
    qualname: str    # enclosing function, e.g. "DeepseekV3RMSNorm.forward"


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualname, node) for every function, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = prefix + node.name
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from _functions(node, name + ".")


def find_regions(source: str, file: str) -> list[Region]:
    """The marked regions of one file's source; ``file`` is only used in messages."""
    lines = source.splitlines()
    regions, open_at = [], None
    for number, line in enumerate(lines, 1):
        begin, end = BEGIN.match(line), END.match(line)
        where = f"{file}:{number}"
        if begin:
            if open_at:
                raise MarkerError(f"{where}: BEGIN SOLUTION inside the region opened at line {open_at[0]} "
                                  "(regions cannot nest: close it with `# END SOLUTION` first)")
            open_at = (number, begin.group(2), begin.group(1))
        elif end:
            if not open_at:
                raise MarkerError(f"{where}: END SOLUTION without a BEGIN SOLUTION lesson_NN above it")
            if end.group(1) != open_at[2]:
                raise MarkerError(f"{where}: END SOLUTION is not indented like its BEGIN at line {open_at[0]}")
            regions.append((open_at[0], number, open_at[1], open_at[2]))
            open_at = None
        elif "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise MarkerError(f"{where}: malformed marker {line.strip()!r} "
                              "(write `# BEGIN SOLUTION lesson_NN` or `# END SOLUTION` on a line of its own)")
    if open_at:
        raise MarkerError(f"{file}:{open_at[0]}: BEGIN SOLUTION {open_at[1]} is never closed by `# END SOLUTION`")
    if not regions:
        return []
    try:
        functions = list(_functions(ast.parse(source)))
    except SyntaxError as error:
        raise MarkerError(f"{file}:{error.lineno}: cannot parse the file: {error.msg}") from error
    found = []
    for begin, end, lesson, indent in regions:
        enclosing = [(name, node) for name, node in functions
                     if node.lineno < begin <= node.end_lineno and node.body[0].lineno <= end]
        if not enclosing:
            raise MarkerError(f"{file}:{begin}: the {lesson} region is not inside a function body")
        found.append(Region(file, lesson, begin, end, indent, enclosing[-1][0]))
    return found


def package_files(package: Path):
    """(relative posix path, path) of every file in the package, caches left out."""
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path.relative_to(package).as_posix(), path


def scan(package: Path) -> list[Region]:
    """Every region in the package's .py files, in file then line order."""
    return [region for rel, path in package_files(package) if path.suffix == ".py"
            for region in find_regions(path.read_text(encoding="utf-8"), f"{package.name}/{rel}")]


def stub(source: str, regions: list[Region], see: dict[str, str]) -> str:
    """``source`` with each region's body replaced by a NotImplementedError naming the lesson.

    ``see`` maps a lesson id to where its teaching lives (shown in the message)."""
    lines = source.splitlines(keepends=True)
    for region in sorted(regions, key=lambda r: r.begin, reverse=True):
        where = see.get(region.lesson, f"`kimi-course show {region.lesson[-2:]}`")
        message = f"{region.lesson}: {region.qualname} - see {where}"
        lines[region.begin:region.end - 1] = [f"{region.indent}raise NotImplementedError({message!r})\n"]
    return "".join(lines)


def fill(source: str, key: str, file: str, after: int) -> tuple[str, list[int]]:
    """``source`` with the body of every region of a lesson numbered above ``after`` taken from ``key``.

    Regions pair up by lesson and order within the file. Also returns, for each line of the
    result, its line number in ``source`` (0 for a line taken from ``key``)."""
    def later(text: str) -> list[Region]:  # sorted by lesson, in file order within one lesson
        return sorted((r for r in find_regions(text, file) if int(r.lesson[-2:]) > after), key=lambda r: r.lesson)
    mine, theirs = later(source), later(key)
    for lesson in sorted({r.lesson for r in mine + theirs}):
        have, want = ([r.qualname for r in regions if r.lesson == lesson] for regions in (mine, theirs))
        if have != want:
            raise MarkerError(f"{file}: the answer key has `# BEGIN SOLUTION {lesson}` regions in "
                              f"{', '.join(want) or 'no function'}, this file in {', '.join(have) or 'none'}: restore "
                              f"the `# BEGIN SOLUTION {lesson}` and `# END SOLUTION` lines (until you reach lesson "
                              f"{lesson[-2:]}, the grader fills its code in from the answer key there)")
    lines, key_lines = source.splitlines(keepends=True), key.splitlines(keepends=True)
    origins = list(range(1, len(lines) + 1))
    for region, answer in sorted(zip(mine, theirs), key=lambda pair: -pair[0].begin):
        lines[region.begin:region.end - 1] = key_lines[answer.begin:answer.end - 1]
        origins[region.begin:region.end - 1] = [0] * (answer.end - answer.begin - 1)
    return "".join(lines), origins
