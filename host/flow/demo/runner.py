"""Run stages in order; skip a stage whose inputs and outputs are as its stamp recorded.

A stage names what it reads (files, parameters, the project modules it runs), what it
writes, the function that does the work and the standalone ``edgemoe`` command that does
the same. After a stage succeeds, ``STAMPS/<stage>.json`` records the hash of each input
and output and the stage's one-line result. The next run skips the stage when every input
hashes the same and every output is still there, unchanged. A stage that fails leaves no
stamp, and the run stops with the stage's name, the reason and the command to rerun it.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.cache import content_digest

from .fingerprint import fingerprint

STAMP_KEYS = {"inputs", "outputs", "result"}


@dataclass(frozen=True)
class Stage:
    name: str
    description: str  # one line, shown when the stage starts
    run: Callable[[], str]  # does the work; returns the result line for the summary
    command: str  # the standalone command that does the same work
    inputs: tuple[Path, ...] = ()
    outputs: tuple[Path, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    modules: tuple[str, ...] = ()  # project modules the stage runs (imports followed)
    data: tuple[str, ...] = ()  # data files it reads, relative to the source root


@dataclass(frozen=True)
class Outcome:
    stage: str
    status: str  # "ran" or "skipped"
    seconds: float
    result: str


class StageFailed(RuntimeError):
    """A stage raised; the message names it, the reason and the command to rerun it."""

    def __init__(self, stage: Stage, reason: str, traceback_file: Path) -> None:
        self.stage = stage.name
        self.command = stage.command
        super().__init__(f"stage '{stage.name}' failed: {reason}\n"
                         f" rerun it alone: {stage.command}\n"
                         f" traceback: {traceback_file}")


def failure_reason(err: BaseException) -> str:
    """A user-facing error's message as it stands; anything else with its type."""
    if isinstance(err, click.ClickException):
        return err.format_message()
    message = str(err).strip() or "(no message)"
    return message if isinstance(err, ValueError | OSError) else f"{type(err).__name__}: {message}"


class Runner:
    """Runs stages with stamps in ``stamp_dir``; ``echo`` prints progress lines."""

    def __init__(self, stamp_dir: Path, echo: Callable[[str], None] = click.echo) -> None:
        self.stamp_dir = Path(stamp_dir)
        self.echo = echo

    def stamp_path(self, stage: Stage) -> Path:
        return self.stamp_dir / f"{stage.name}.json"

    def _stamp(self, stage: Stage) -> dict[str, Any] | None:
        """The stage's stamp; None when there is none or it is not one (damaged, older)."""
        try:
            stamp = json.loads(self.stamp_path(stage).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return stamp if isinstance(stamp, dict) and stamp.keys() >= STAMP_KEYS else None

    @staticmethod
    def _outputs(stage: Stage) -> dict[str, str | None]:
        return {str(path): content_digest(path) for path in stage.outputs}

    def why_run(self, stage: Stage, inputs: dict[str, str]) -> str | None:
        """Why ``stage`` must run, or None when its stamp still holds."""
        stamp = self._stamp(stage)
        if stamp is None:
            return "no stamp of an earlier run"
        changed = [key for key in sorted(set(inputs) | set(stamp["inputs"]))
                   if inputs.get(key) != stamp["inputs"].get(key)]
        if changed:
            return "changed: " + ", ".join(changed)
        outputs = self._outputs(stage)
        altered = [name for name, digest in outputs.items()
                   if digest is None or digest != stamp["outputs"].get(name)]
        if altered:
            return "outputs missing or changed since: " + ", ".join(altered)
        return None

    def run_stage(self, stage: Stage, position: str) -> Outcome:
        inputs = fingerprint(stage.inputs, stage.params, stage.modules, stage.data)
        reason = self.why_run(stage, inputs)
        if reason is None:
            result = self._stamp(stage)["result"]
            self.echo(f"{position} {stage.name}: skipped, inputs unchanged ({result})")
            return Outcome(stage.name, "skipped", 0.0, result)
        self.echo(f"{position} {stage.name}: {stage.description} ({reason})")
        self.stamp_path(stage).unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            result = stage.run()
        except Exception as err:
            raise StageFailed(stage, failure_reason(err), self._keep_traceback(stage)) from err
        seconds = time.perf_counter() - started
        stamp = {"stage": stage.name, "inputs": inputs, "outputs": self._outputs(stage),
                 "result": result, "seconds": round(seconds, 3),
                 "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with atomic_path(self.stamp_path(stage)) as scratch:
            scratch.write_text(json.dumps(stamp, indent=2) + "\n")
        self.echo(f"{position} {stage.name}: done in {seconds:.1f} s: {result}")
        return Outcome(stage.name, "ran", seconds, result)

    def _keep_traceback(self, stage: Stage) -> Path:
        path = self.stamp_dir / f"{stage.name}.traceback.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc())
        return path

    def run(self, stages: Sequence[Stage]) -> list[Outcome]:
        """Each stage in order; raises ``StageFailed`` at the first that fails."""
        outcomes = []
        for index, stage in enumerate(stages, start=1):
            outcomes.append(self.run_stage(stage, f"[{index}/{len(stages)}]"))
        return outcomes


def summary(outcomes: Sequence[Outcome]) -> str:
    """A table: stage, ran or skipped, seconds, result; and the total time."""
    width = max(len("stage"), *(len(o.stage) for o in outcomes))
    lines = [f"{'stage':<{width}}  {'status':<7}  {'time':>8}  result"]
    for outcome in outcomes:
        lines.append(f"{outcome.stage:<{width}}  {outcome.status:<7}  "
                     f"{outcome.seconds:>6.1f} s  {outcome.result}")
    total = sum(o.seconds for o in outcomes)
    lines.append(f"{'total':<{width}}  {'':<7}  {total:>6.1f} s")
    return "\n".join(lines)
