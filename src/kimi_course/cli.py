"""The ``kimi-course`` command line: start, check, quiz, progress, list, show, verify, site, and the
training commands train, sample, check-run."""

import functools
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.prompt import Prompt
from rich.table import Table

from . import catalog, grader, markers, progress, quiz, verify, workspace

app = typer.Typer(help="Build Kimi-K2 from scratch, lesson by lesson.", no_args_is_help=True, add_completion=False)
console = Console(highlight=False)

LessonArg = Annotated[str, typer.Argument(help="lesson: 8, 08, lesson_08 or its folder name")]
Workspace = Annotated[Path, typer.Option("--workspace", "-w", envvar="KIMI_COURSE_WORKSPACE",
                                         help="your workspace folder")]
Root = Annotated[Optional[Path], typer.Option("--course-root", hidden=True, help="course folder ($KIMI_COURSE_ROOT)")]
Package = Annotated[Optional[Path], typer.Option("--package", hidden=True, help="answer key ($KIMI_COURSE_PACKAGE)")]
Timeout = Annotated[float, typer.Option(help="seconds one test may run before it is stopped")]
MARK = {"passed": "[green]pass[/]", "failed": "[red]FAIL[/]", "timeout": "[red]TIME[/]", "skipped": "[yellow]skip[/]",
        "not run": "[dim]not run[/]"}


def command(name: str | None = None):
    """Register a CLI command; the engine's own errors print in red and exit with status 2."""
    def register(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except (catalog.CourseError, markers.MarkerError, quiz.QuizError) as error:
                console.print(f"[red]error:[/] {escape(str(error))}")
                raise typer.Exit(2) from None
        return app.command(name)(run)
    return register


def _workspace_package(path: Path, package: Path) -> Path:
    learner = path.resolve() / workspace.learner_package(package)
    if not learner.is_dir():
        raise catalog.CourseError(f"no workspace at {path} (expected {learner.name}/ in it): run `kimi-course start"
                                  f"{'' if path == Path('workspace') else f' --workspace {path}'}` first")
    return learner


@command()
def start(workspace_dir: Workspace = Path("workspace"), course_root: Root = None, package: Package = None) -> None:
    """Create your workspace (or add what is new upstream, never touching files you edited)."""
    root, package = catalog.course_root(course_root), catalog.package_dir(package)
    report = workspace.start(workspace_dir.resolve(), package, root)
    for label, names in (("added", report.added), ("updated (untouched by you, changed upstream)", report.updated),
                         ("left alone (you edited them)", report.kept)):
        if names:
            console.print(f"[bold]{label}:[/] {escape(', '.join(names))}")
    if not (report.added or report.updated):
        console.print("nothing new to write.")
    console.print(f"Your code lives in {escape(str(workspace_dir / workspace.learner_package(package)))}/ "
                  "(import it with that folder's parent on sys.path). Next: `kimi-course list`, then "
                  "`kimi-course check NN` as you finish each lesson.")


@command()
def check(lesson: Annotated[Optional[str], typer.Argument(help="lesson: 8, 08, lesson_08 or its folder")] = None,
          all_lessons: Annotated[bool, typer.Option("--all", help="check every graded lesson")] = False,
          workspace_dir: Workspace = Path("workspace"), timeout: Timeout = 60.0,
          course_root: Root = None, package: Package = None) -> None:
    """Run a lesson's graded tests on your workspace."""
    root, package = catalog.course_root(course_root), catalog.package_dir(package)
    if (lesson is None) != all_lessons:
        raise catalog.CourseError("name one lesson (`kimi-course check 08`) or use --all")
    learner = _workspace_package(workspace_dir, package)
    lessons = catalog.lessons(root) if all_lessons else [catalog.find(root, lesson)]
    results = grader.run_tests(lessons, "workspace", root, package, learner.parent, timeout)
    if not results:
        console.print("no graded code in " + (lessons[0].name if lessons and not all_lessons else "this course")
                      + ": nothing to check (read it with `kimi-course show`, take its quiz).")
        return
    for result in results.values():
        progress.record_check(learner.parent, result.lesson.id, result.passed, len(result.tests))
    if all_lessons:
        _show_summary(results.values(), root)
    else:
        _show_lesson(next(iter(results.values())), root)
    raise typer.Exit(0 if all(result.ok for result in results.values()) else 1)


def _first_problem(result: grader.LessonResult) -> str:
    messages = [result.problem] + [test.message for test in result.tests.values() if test.outcome != "passed"]
    return next((message.splitlines()[0] for message in messages if message), "")


def _show_summary(results, root: Path) -> None:
    table = Table("lesson", "title", "passed", "first problem", title="kimi-course check --all")
    for result in results:
        done = "[green]" if result.ok else "[red]"
        table.add_row(result.lesson.id, escape(result.lesson.title), f"{done}{result.passed}/{len(result.tests)}[/]",
                      escape(_first_problem(result)))
    console.print(table)


def _show_lesson(result: grader.LessonResult, root: Path) -> None:
    lesson = result.lesson
    table = Table("test", "result", "message", title=f"{lesson.id}: {escape(lesson.title)}")
    for test in result.tests.values():
        table.add_row(test.name, MARK.get(test.outcome, test.outcome), escape(test.message.split("\n")[0]))
    console.print(table)
    for test in result.tests.values():
        if test.outcome in ("failed", "timeout"):
            console.print(f"\n[bold]{test.name}[/]")
            for frame in test.frames:
                console.print(f"  [cyan]your code[/] {escape(frame)}")
            console.print(escape(test.message))
    if result.problem and result.problem not in {test.message for test in result.tests.values()}:
        console.print(f"\n[red]{escape(result.problem)}[/]")
    if result.ok:
        console.print(f"\n[green]{result.passed}/{len(result.tests)} passed: lesson {lesson.number:02d} done.[/]")
    else:
        console.print(f"\n{result.passed}/{len(result.tests)} passed. Read "
                      f"{escape(catalog.display_path(lesson.teaching, root))} (`kimi-course show {lesson.number:02d}`).")


@command("quiz")
def quiz_command(lesson: LessonArg, answers: Annotated[Optional[str], typer.Option(
                     help='answer without prompts, comma separated, e.g. "b,2,a"')] = None,
                 workspace_dir: Workspace = Path("workspace"), course_root: Root = None) -> None:
    """Take a lesson's quiz; your score is recorded in your progress."""
    found = catalog.find(catalog.course_root(course_root), lesson)
    if not found.tasks.exists():
        raise catalog.CourseError(f"{found.name} has no tasks.md, so no quiz yet")
    questions = quiz.load(found.tasks)
    given = [a.strip() for a in answers.split(",")] if answers is not None else None
    if given is not None and len(given) != len(questions):
        raise catalog.CourseError(f"--answers has {len(given)} answers; the quiz has {len(questions)} questions")
    score = 0
    for index, question in enumerate(questions):
        console.print(f"\n[bold]Q{question.number}.[/] {escape(question.text)}")
        for letter, option in question.options.items():
            console.print(f"  {letter}) {escape(option)}")
        while True:
            answer = given[index] if given is not None else Prompt.ask("your answer", console=console)
            try:
                correct = question.is_correct(answer)
                break
            except ValueError as error:
                if given is not None:
                    raise catalog.CourseError(f"answer {index + 1} ({answer!r}): {error}") from None
                console.print(f"[yellow]{error}[/]")
        score += correct
        verdict = "[green]correct[/]" if correct else f"[red]wrong[/] (answer: {escape(question.answer)})"
        console.print(f"  {escape(answer)}: {verdict}. Why: {escape(question.why)}")
    progress.record_quiz(workspace_dir.resolve(), found.id, score, len(questions))
    console.print(f"\n[bold]score: {score}/{len(questions)}[/]")


@command("progress")
def progress_command(workspace_dir: Workspace = Path("workspace"), course_root: Root = None) -> None:
    """Your checks and quiz scores, module by module."""
    record = progress.load(workspace_dir.resolve())
    table = Table("module", "lesson", "title", "check", "quiz", title="your progress")
    module = None
    for lesson in catalog.lessons(catalog.course_root(course_root)):
        checked, quizzed = record["checks"].get(lesson.id), record["quizzes"].get(lesson.id)
        mark = "" if not lesson.test_file.exists() else "[dim]-[/]" if not checked else (
            f"{'[green]' if checked['passed'] == checked['total'] else '[red]'}{checked['passed']}/{checked['total']}[/]")
        table.add_row(lesson.module if lesson.module != module else "", lesson.id, escape(lesson.title), mark,
                      f"{quizzed['best']}/{quizzed['total']}" if quizzed else "[dim]-[/]")
        module = lesson.module
    console.print(table)


@command("list")
def list_command(course_root: Root = None) -> None:
    """The lessons, with time estimates and which have code to write."""
    root = catalog.course_root(course_root)
    lessons = catalog.lessons(root)
    table = Table("#", "module", "title", "time", "code", title=f"{len(lessons)} lessons")
    for lesson in lessons:
        table.add_row(f"{lesson.number:02d}", lesson.module, escape(lesson.title), lesson.time or "",
                      "yes" if lesson.test_file.exists() else "")
    console.print(table if lessons else f"no lessons yet in {root}")


@command()
def show(lesson: LessonArg, tasks: Annotated[bool, typer.Option("--tasks", help="show tasks.md")] = False,
         course_root: Root = None) -> None:
    """Read a lesson (teaching.md, or tasks.md with --tasks) in the terminal."""
    root = catalog.course_root(course_root)
    found = catalog.find(root, lesson)
    path = found.tasks if tasks else found.teaching
    if not path.exists():
        raise catalog.CourseError(f"{catalog.display_path(path, root)} does not exist yet")
    console.print(f"[dim]{escape(catalog.display_path(path, root))}[/]")
    console.print(Markdown(path.read_text(encoding="utf-8")))


@command("verify")
def verify_command(only: Annotated[Optional[list[str]], typer.Option(
                       help=f"run only these checks: {', '.join(verify.CHECKS)}")] = None,
                   jobs: Annotated[int, typer.Option(help="processes to run at once")] = 2,
                   timeout: Annotated[float, typer.Option(help="seconds per test, script or snippet")] = 120.0,
                   course_root: Root = None, package: Package = None) -> None:
    """(Maintainers, CI) prove every test, code block, snippet, quiz and link of the course."""
    unknown = set(only or ()) - set(verify.CHECKS)
    if unknown:
        raise catalog.CourseError(f"unknown check(s) {', '.join(sorted(unknown))}: choose from {', '.join(verify.CHECKS)}")
    report = verify.run_verify(catalog.course_root(course_root), catalog.package_dir(package), only, jobs, timeout)
    if report.failures:
        table = Table("check", "where", "problem", title="verify failures", show_lines=True)
        for failure in report.failures:
            table.add_row(failure.check, escape(failure.where), escape(failure.message))
        console.print(table)
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/]")
    console.print(f"[{'green' if report.ok else 'red'}]{escape(report.summary())}[/]")
    raise typer.Exit(0 if report.ok else 1)


@command("site")
def site_command(serve: Annotated[bool, typer.Option("--serve", help="then serve it on http://127.0.0.1:PORT/")] = False,
                 port: Annotated[int, typer.Option(help="the port --serve listens on")] = 8000,
                 course_root: Root = None, package: Package = None) -> None:
    """The course as a website: build build/site (mkdocs-material, strict); --serve to read it in a browser."""
    from . import site
    built = site.build(course_root, package)
    console.print(f"built {escape(str(built))}" + ("" if serve else "  (`kimi-course site --serve` to read it)"))
    if serve:
        site.serve(built, port)


def _training_errors(function):
    """Training and checkpoint errors print in red and exit with status 2, like the engine's own."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        from kimik2 import CheckpointError
        from kimik2.tokenizer.corpus import CorpusError
        from kimik2.training import TrainingError
        try:
            return function(*args, **kwargs)
        except (CheckpointError, CorpusError, TrainingError, ValueError) as error:
            console.print(f"[red]error:[/] {escape(str(error))}")
            raise typer.Exit(2) from None
    return run


@command("train")
@_training_errors
def train_command(
        out: Annotated[Path, typer.Option("--out", help="run folder: log.jsonl, checkpoints, tokenizer")],
        preset: Annotated[str, typer.Option(help="model size (tiny: 4 layers, hidden 64, 16 experts)")] = "tiny",
        steps: Annotated[int, typer.Option(help="optimizer steps in the whole run")] = 240,
        optimizer: Annotated[str, typer.Option(help="adamw, muon or muonclip")] = "muonclip",
        lr: Annotated[float, typer.Option(help="peak learning rate (warmup-stable-decay schedule)")] = 1e-2,
        batch_size: Annotated[int, typer.Option(help="sequences per step")] = 16,
        seq_len: Annotated[int, typer.Option(help="tokens per sequence")] = 128,
        save_every: Annotated[int, typer.Option(help="checkpoint every K steps (0: only at the end)")] = 0,
        resume: Annotated[bool, typer.Option("--resume", help="continue the run in --out from its latest checkpoint")] = False,
        seed: Annotated[int, typer.Option(help="seed for the weights and the data order")] = 0,
        bf16: Annotated[bool, typer.Option("--bf16", help="bfloat16 autocast")] = False,
        data: Annotated[Path, typer.Option(help="folder holding shakespeare/ (make data)")] = Path("data"),
        vocab_size: Annotated[int, typer.Option(help="BPE merges learned from the corpus (+ 256 specials)")] = 4096
        ) -> None:
    """Train a tiny Kimi-K2 on Shakespeare (AdamW, Muon or MuonClip) with a progress bar."""
    from kimik2.training import TrainSettings
    from kimik2.training.run import train_with_progress
    settings = TrainSettings(steps=steps, optimizer=optimizer, lr=lr, batch_size=batch_size, seq_len=seq_len,
                             save_every=save_every, seed=seed, bf16=bf16)
    train_with_progress(settings, out, console, preset=preset, data_dir=data, vocab_size=vocab_size, resume=resume)
    console.print(f"done: {escape(str(out))}/log.jsonl; sample with `kimi-course sample {escape(str(out))}`")


@command("sample")
@_training_errors
def sample_command(
        run: Annotated[Path, typer.Argument(help="the --out folder of `kimi-course train`")],
        prompt: Annotated[str, typer.Option(help="text to continue")] = "ROMEO:",
        temperature: Annotated[float, typer.Option(help="0 for greedy")] = 0.8,
        top_k: Annotated[Optional[int], typer.Option(help="keep the k most likely tokens")] = 50,
        top_p: Annotated[Optional[float], typer.Option(help="keep the smallest set with this much probability")] = None,
        max_tokens: Annotated[int, typer.Option(help="tokens to generate")] = 100,
        seed: Annotated[int, typer.Option(help="sampling seed")] = 0) -> None:
    """Generate text from a trained run, streamed as it is decoded (uses the KV cache)."""
    from kimik2.training.run import load_run, sample
    model, tokenizer = load_run(run)
    model.set_mla_mode("absorbed")
    console.print(escape(prompt), end="")
    sample(model, tokenizer, prompt, max_tokens, temperature, top_k, top_p, seed,
           stream=lambda text: console.print(escape(text), end=""))
    console.print()


@command("check-run")
@_training_errors
def check_run_command(log: Annotated[Path, typer.Argument(help="a run's log.jsonl (or its folder)")]) -> None:
    """Is my loss right? Compare a run's losses with the reference curve and its tolerance band."""
    import json

    from kimik2.training.run import check_run
    log = log / "log.jsonl" if log.is_dir() else log
    if not log.exists():
        raise catalog.CourseError(f"{log} does not exist: pass the log.jsonl a `kimi-course train` run wrote")
    try:
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise catalog.CourseError(f"{log} is not JSON lines ({error})") from None
    settings = None
    if (log.parent / "latest").exists():  # the run's settings, to make sure it is comparable with the reference
        from kimik2.training.checkpoint import latest_checkpoint, read_trainer_state
        settings = read_trainer_state(latest_checkpoint(log.parent))["settings"]   # not the model: not needed
    on_track, rows = check_run(records, settings)
    table = Table("step", "your loss", "reference", "allowed", "")
    for step, loss, mean, band, ok in rows:
        table.add_row(str(step), f"{loss:.3f}", f"{mean:.3f}", f"± {band:.3f}", MARK["passed" if ok else "failed"])
    console.print(table)
    console.print("[green]on track[/]" if on_track else
                  "[red]off track:[/] compare your settings with the reference run (kimik2/training/"
                  "reference_curve.json); a loss far above it usually means a bug in the model or a too high lr")
    raise typer.Exit(0 if on_track else 1)
