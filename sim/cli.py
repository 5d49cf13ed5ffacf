"""``pinsim``: the command line (``pinsim run``, ``check``, ``scenarios``, ``sweep``, ``plan``,
``fuzz``, ``mock serve``).

Rules:
- ``main(argv)`` returns the exit status: 0 all good, 1 a check or expectation failed,
  2 a user mistake (missing file, bad scenario, bad flag), which prints exactly one line
  ``pinsim: error: <file>: <key>: <reason>`` and never a traceback.
- A scenario argument is a file, a folder (``check``, ``plan``) or a shipped scenario's name
  (``sim.scenario.catalog``); a name that matches nothing is answered with the close ones.
- Scenarios are all loaded and validated before anything runs, so a typo in the last file of
  ``pinsim check scenarios/`` fails in a second, not after an hour of simulation.
- ``check --jobs N`` runs the scenarios in N worker processes (``sim.sweep.executors``), heavy
  ones first, and prints exactly what one process would, in the same order.
- Outputs stay where the user said: ``--out`` (created up front; an existing file or a folder
  that cannot be made is a user mistake) or, by default, ``out/<scenario name>`` — a name
  ``sim.scenario`` guarantees is one folder, so nothing is written outside the output root.
- A closed stdout (``pinsim scenarios | head -1``) ends the command quietly with status 141
  (128 + SIGPIPE, as a shell reports a process the pipe ended), never a traceback.
- Progress goes to stderr (a ``\\r`` bar on a terminal, a plain line every few seconds on a
  pipe, so a CI log shows movement); results go to stdout. The simulation pieces are
  imported only by the commands that run them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from sim.progress import RunBar, SweepBar
from sim.scenario import Scenario, ScenarioError, default, load
from sim.scenario.catalog import close_names, locate, shipped_dir

if TYPE_CHECKING:
    from sim.judge.checks import CheckResult
    from sim.results.recorder import RunData
    from sim.runner import RunOutcome

__all__ = ["main"]

OUT_ROOT = Path("out")
BROKEN_PIPE_STATUS = 128 + 13  # SIGPIPE's number, as a shell reports a process it ended
_COUNTERS = ("entered", "proceeded", "synced", "not_synced", "pending", "errored", "exited")


# commands that own their options: `pinsim <words> …` runs `<module>.main(…)`
_DELEGATED: dict[tuple[str, ...], str] = {
    ("mock", "serve"): "mock_pinterest.serve",
    ("compare",): "sim.results.compare",
    ("live", "run"): "sync_core.live.command",
    ("live", "connect"): "sync_core.live.connect",
    ("live", "replay"): "sim.live.replay",
}


class UsageError(Exception):
    """A mistake of the user's; shown as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pinsim`` with ``argv`` (default: the process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        status = _dispatch(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_STATUS
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null, as Python's docs recommend after a ``BrokenPipeError``, so the
    interpreter's last flush at exit finds nothing to complain about."""
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _dispatch(args: list[str]) -> int:
    for words, module in _DELEGATED.items():
        if tuple(args[: len(words)]) == words:
            delegate: Callable[[list[str]], int] = importlib.import_module(module).main
            return delegate(args[len(words) :])
    try:
        options = _parser().parse_args(args)
        status: int = options.command(options)
    except (UsageError, ScenarioError) as error:
        print(f"pinsim: error: {error}", file=sys.stderr)
        return 2
    return status


def _parser() -> _Parser:
    parser = _Parser(prog="pinsim", description="Canvas-to-Pinterest audience sync simulator")
    commands = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser("run", help="run one scenario and write its report")
    run.add_argument(
        "scenario", nargs="?", help="scenario file or shipped name (default: the built-in one)"
    )
    run.add_argument("--out", type=Path, help="output folder (default: out/<scenario name>)")
    run.add_argument("--seed", type=int, help="override the scenario's seed")
    run.set_defaults(command=_run)
    check = commands.add_parser("check", help="run scenarios; fail on any broken check")
    check.add_argument(
        "paths", nargs="*", type=Path, help="files, folders or shipped names (default: all)"
    )
    check.add_argument("--out", type=Path, default=Path("out/check"), help="output root")
    check.add_argument("--skip-heavy", action="store_true", help="skip scenarios marked heavy")
    check.add_argument(
        "--jobs", type=_positive, default=1, help="scenarios run at once, in worker processes"
    )
    check.set_defaults(command=_check)
    listing = commands.add_parser("scenarios", help="list the shipped scenarios")
    listing.add_argument("--dir", type=Path, help="folder to list (default: the shipped ones)")
    listing.set_defaults(command=_scenarios)
    _add_sweep(commands)
    _add_plan(commands)
    _add_fuzz(commands)
    mock = commands.add_parser("mock", help="the Pinterest mock (pinsim mock serve --help)")
    mock.add_argument("action", choices=["serve"])
    commands.add_parser("compare", help="two run folders side by side (pinsim compare --help)")
    live = commands.add_parser(
        "live", help="the live worker (pinsim live run|connect|replay --help)"
    )
    live.add_argument("action", choices=["run", "connect", "replay"])
    return parser


# --------------------------------------------------------------------------- commands


def _run(options: argparse.Namespace) -> int:
    scenario = default() if options.scenario is None else _load_file(Path(options.scenario))
    from sim.runner import run

    out = _out_folder(options.out) if options.out else _inside(OUT_ROOT, scenario.name)
    bar = RunBar(sys.stderr, label=scenario.name)
    outcome = run(scenario, out_dir=out, seed=options.seed, progress=bar)
    bar.finish(outcome.data.wall_seconds)
    print(summary_table(outcome))
    print(f"report: {outcome.report}")
    return 0 if outcome.ok else 1


def _check(options: argparse.Namespace) -> int:
    files = scenario_files(options.paths or [shipped_dir()])
    scenarios = [_load_file(path) for path in files]
    root = _out_folder(options.out)
    for scenario in scenarios:
        if options.skip_heavy and scenario.heavy:
            print(f"SKIP {scenario.name} (heavy)")
    chosen = [s for s in scenarios if not (options.skip_heavy and s.heavy)]
    folders = [_inside(root, scenario.name) for scenario in chosen]
    if options.jobs > 1 and len(chosen) > 1:
        verdicts = _checked_in_workers(chosen, folders, options.jobs)
    else:
        pairs = zip(chosen, folders, strict=True)
        verdicts = (_checked_here(scenario, folder) for scenario, folder in pairs)
    failed = 0
    for ok, lines in verdicts:
        failed += not ok
        print("\n".join(lines))
    print(f"{len(scenarios) - failed} of {len(scenarios)} scenarios passed")
    return 1 if failed else 0


def _checked_here(scenario: Scenario, folder: Path) -> tuple[bool, list[str]]:
    from sim.runner import run

    bar = RunBar(sys.stderr, label=scenario.name)
    outcome = run(scenario, out_dir=folder, progress=bar)
    bar.finish(outcome.data.wall_seconds)
    return outcome.ok, _verdict_lines(scenario, outcome)


def check_one(job: tuple[str, str]) -> tuple[bool, list[str]]:
    """One scenario file run into a folder, and its verdict lines: a worker's unit of
    ``pinsim check --jobs`` (top level, so a worker process can import it)."""
    from sim.runner import run

    path, folder = job
    scenario = load(Path(path))
    outcome = run(scenario, out_dir=Path(folder))
    return outcome.ok, _verdict_lines(scenario, outcome)


def _checked_in_workers(
    scenarios: Sequence[Scenario], folders: Sequence[Path], jobs: int
) -> Iterator[tuple[bool, list[str]]]:
    """Each scenario's verdict, in the given order, from ``jobs`` worker processes; heavy ones
    start first, so they do not end the run alone."""
    from sim.sweep.executors import LocalProcesses

    order = sorted(range(len(scenarios)), key=lambda k: not scenarios[k].heavy)
    items = [(str(scenarios[k].source), str(folders[k])) for k in order]
    bar = SweepBar(sys.stderr)
    ready: dict[int, tuple[bool, list[str]]] = {}
    shown = 0
    for finished, (position, result) in enumerate(
        LocalProcesses(jobs).run_all(check_one, items), start=1
    ):
        bar(finished, len(items))
        index = order[position]
        ready[index] = (
            result if not isinstance(result, BaseException) else _crashed(scenarios[index], result)
        )
        while shown in ready:
            yield ready.pop(shown)
            shown += 1
    bar.finish()


def _crashed(scenario: Scenario, error: BaseException) -> tuple[bool, list[str]]:
    return False, [f"FAIL {scenario.name} ({scenario.source})", f"  the run failed: {error!r}"]


def _verdict_lines(scenario: Scenario, outcome: RunOutcome) -> list[str]:
    lines = [f"{'PASS' if outcome.ok else 'FAIL'} {scenario.name} ({scenario.source})"]
    for name, result in {**outcome.checks, **_prefixed(outcome)}.items():
        lines.append(f"  {'ok  ' if result.ok else 'FAIL'} {name}: {result.detail}")
    return lines


def _add_sweep(commands: argparse._SubParsersAction[_Parser]) -> None:
    sweep = commands.add_parser("sweep", help="run a scenario for every combination of values")
    sweep.add_argument("scenario", help="scenario file or shipped name")
    sweep.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help="a scenario key (traffic.0.rate, sync.requests_per_second…), seed or steps, "
        "and its values; repeat for more axes",
    )
    sweep.add_argument("--out", type=Path, required=True, help="output folder")
    sweep.add_argument("--workers", type=_positive, help="worker processes (default: CPUs)")
    sweep.add_argument("--dask", metavar="ADDRESS|local", help="run on a Dask cluster")
    sweep.add_argument("--keep-runs", action="store_true", help="write every run's outputs")
    sweep.set_defaults(command=_sweep)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}")
    return int(text)


def _sweep(options: argparse.Namespace) -> int:
    scenario = _load_file(Path(options.scenario))
    from sim.sweep.executors import executor_for
    from sim.sweep.runs import format_table, parse_axis, plan_runs, sweep, write_sweep

    axes = [parse_axis(text, scenario.source) for text in options.vary]
    plan_runs(scenario, axes)  # every combination valid before the folder is made
    _out_folder(options.out)
    executor = executor_for(workers=options.workers, dask=options.dask)
    bar = SweepBar(sys.stderr)
    keep = options.out / "runs" if options.keep_runs else None
    result = sweep(scenario, axes, executor=executor, keep_dir=keep, progress=bar)
    bar.finish(result.failed_runs)
    paths = write_sweep(result, options.out, command=_sweep_command(options))
    print(format_table(result.table))
    print("\n".join(f"wrote {path}" for path in paths))
    return 0 if result.ok else 1


def _sweep_command(options: argparse.Namespace) -> str:
    """The sweep as a command line, for sweep.json (rebuilt: ``main`` may get any argv)."""
    words = ["pinsim", "sweep", options.scenario]
    words += [word for text in options.vary for word in ("--vary", text)]
    words += ["--out", str(options.out)]
    words += ["--workers", str(options.workers)] if options.workers else []
    words += ["--dask", options.dask] if options.dask else []
    words += ["--keep-runs"] if options.keep_runs else []
    return shlex.join(words)


def _add_plan(commands: argparse._SubParsersAction[_Parser]) -> None:
    plan = commands.add_parser("plan", help="closed-form estimates beside simulated figures")
    plan.add_argument(
        "paths", nargs="*", type=Path, help="files, folders or shipped names (default: all)"
    )
    plan.add_argument(
        "--runs",
        type=Path,
        metavar="DIR",
        help="read DIR/<scenario name>/ (pinsim run/check outputs) instead of simulating",
    )
    plan.add_argument("--skip-heavy", action="store_true", help="skip scenarios marked heavy")
    plan.set_defaults(command=_plan)


def _plan(options: argparse.Namespace) -> int:
    files = scenario_files(options.paths or [shipped_dir()])
    scenarios = [_load_file(path) for path in files]
    if options.runs is not None and not options.runs.is_dir():
        raise UsageError(f"{options.runs}: no such folder")
    from sim.plan.table import format_plan, plan_rows

    for scenario in scenarios:
        if options.skip_heavy and scenario.heavy:
            print(f"SKIP {scenario.name} (heavy)\n")
            continue
        data, source = _plan_data(scenario, options.runs)
        print(f"== {scenario.name} ({source})")
        print(format_plan(plan_rows(scenario, data)))
        print()
    return 0


def _plan_data(scenario: Scenario, runs: Path | None) -> tuple[RunData | None, str]:
    """The run to measure: simulated now, read from ``runs``, or none (a heavy scenario
    ``pinsim check --skip-heavy`` left out: the simulated column says n/a)."""
    from sim.results.folder import load_run

    if runs is None:
        from sim.world.driver import simulate

        bar = RunBar(sys.stderr, label=scenario.name)
        data = simulate(scenario, scenario.seed, progress=bar)
        bar.finish(data.wall_seconds)
        return data, "simulated"
    folder = runs / scenario.name
    if not folder.exists():
        return None, f"no run in {folder}: simulated n/a"
    try:
        return load_run(folder, scenario), f"run in {folder}"
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None


def _add_fuzz(commands: argparse._SubParsersAction[_Parser]) -> None:
    fuzz = commands.add_parser(
        "fuzz", help="random fault schedules judged by every check; failures shrunk to files"
    )
    fuzz.add_argument("--runs", type=_positive, default=100, help="schedules (default: 100)")
    fuzz.add_argument("--seed", type=_whole, default=0, help="the fuzz seed (default: 0)")
    fuzz.add_argument(
        "--out", type=Path, default=Path("out/fuzz"), help="output folder (default: out/fuzz)"
    )
    fuzz.add_argument("--jobs", type=_positive, help="worker processes (default: CPUs; 1: inline)")
    fuzz.set_defaults(command=_fuzz)


def _whole(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}")
    return int(text)


def _fuzz(options: argparse.Namespace) -> int:
    out = _out_folder(options.out)
    from sim.fuzz import fuzz, summary
    from sim.progress import FuzzBar
    from sim.sweep.executors import Executor, Inline, LocalProcesses

    executor: Executor = Inline() if options.jobs == 1 else LocalProcesses(options.jobs)
    bar = FuzzBar(sys.stderr, options.runs)
    campaign = fuzz(
        runs=options.runs,
        seed=options.seed,
        out=out,
        executor=executor,
        on_trial=bar,
        on_shrink=bar.shrinking,
    )
    print(summary(campaign))
    return 1 if campaign.found else 0


def _prefixed(outcome: RunOutcome) -> dict[str, CheckResult]:
    return {f"expect.{name}": result for name, result in outcome.expectations.items()}


def _scenarios(options: argparse.Namespace) -> int:
    for path in scenario_files([options.dir or shipped_dir()]):
        scenario = _load_file(path)
        heavy = " [heavy]" if scenario.heavy else ""
        print(f"{scenario.name:<28} {path!s:<44} {scenario.description}{heavy}")
    return 0


# --------------------------------------------------------------------------- helpers


def scenario_files(paths: Sequence[Path]) -> list[Path]:
    """The ``*.toml`` files named by ``paths`` (folders expanded, sorted; a shipped
    scenario's name stands for its file)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        else:
            files.append(_scenario_path(path))
    return files


def _scenario_path(path: Path) -> Path:
    """``path`` itself, or the shipped scenario it names; a miss lists the close names."""
    found = locate(str(path))
    if found is not None:
        return found
    close = close_names(str(path))
    hint = f"close ones: {', '.join(close)}" if close else "pinsim scenarios lists them"
    raise UsageError(f"{path}: no such file or folder, nor a shipped scenario ({hint})")


def _out_folder(path: Path, key: str = "--out") -> Path:
    """An output folder, made now (before anything runs) so a bad one fails in a second;
    ``key`` names where it came from in the error."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: {key}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{path}: {key}: cannot make the folder: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: {key}: the folder is not writable")
    return path


def _inside(root: Path, name: str) -> Path:
    """``root/name``, made, refused if it would leave ``root`` (a name ``sim.scenario`` let
    through that should not have, or a link planted in the root)."""
    folder = root / name
    if not folder.resolve().is_relative_to(root.resolve()):
        raise UsageError(f"{folder}: output folder: leaves the output root {root}")
    return _out_folder(folder, "output folder")


def _load_file(path: Path) -> Scenario:
    return load(_scenario_path(path))


def summary_table(outcome: RunOutcome) -> str:
    """Per step the seven counters and lag p50/p99, each counter's meaning, the pacing figures,
    then the checks."""
    from sim.results.glossary import COUNTER_MEANINGS
    from sim.results.recorder import final_counters, lag_percentiles

    data = outcome.data
    final = final_counters(data.timeseries)
    header = f"{'step':<24}" + "".join(f"{name:>11}" for name in _COUNTERS)
    lines = [header + f"{'lag p50':>10}{'lag p99':>10}"]
    for step in data.step_ids:
        values = final.loc[step, list(_COUNTERS)].to_numpy(dtype=np.int64).tolist()
        counts = "".join(f"{value:>11}" for value in values)
        lag = lag_percentiles(data.users[data.users["step"] == step])
        lines.append(f"{step:<24}{counts}{_seconds(lag['p50']):>10}{_seconds(lag['p99']):>10}")
    lines += [f"  {name:<11} {meaning}" for name, meaning in COUNTER_MEANINGS.items()]
    lines.append(pacing_line(data))
    results = {**outcome.checks, **_prefixed(outcome)}
    failed = [name for name, result in results.items() if not result.ok]
    verdict = "all ok" if not failed else "FAILED: " + ", ".join(failed)
    lines.append(f"checks: {len(results) - len(failed)} of {len(results)} ok ({verdict})")
    return "\n".join(lines)


def pacing_line(data: RunData) -> str:
    """The run's 429 share of writes and utilisation of the limit while backlogged."""
    from sim.judge import pacing

    figures = pacing.overall(data)
    share, used = figures.share_429, figures.utilisation
    refused = "-" if share is None else f"{share:.2%}"
    utilisation = "- (no backlog)" if used is None else f"{used:.1%}"
    return (
        f"pacing: 429 share {refused} of {figures.writes:,} writes; utilisation {utilisation} "
        f"of {figures.requests_per_second}/s over {figures.backlog_s:,.1f}s of backlog; "
        f"busiest arrival second {figures.busiest.count}"
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"
