"""``edgemoe demo``'s stage runner: stamps by content hash, skips, reruns, failures; the
flow's stages and their rerun commands. Real stage functions, no full demo."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from edgemoe.host.flow.cli import SUBCOMMANDS, main
from edgemoe.host.flow.demo.fingerprint import SOURCE_ROOT, code_files, code_version, fingerprint
from edgemoe.host.flow.demo.runner import Runner, Stage, StageFailed, summary
from edgemoe.host.flow.demo.stages import RECORDS, flow


def rtl_stage(tmp_path: Path, calls: list[str], params: dict | None = None) -> Stage:
    """``edgemoe rtl generate``'s function, reading a spec file, counting its runs."""
    from edgemoe.hls.rtl.generate import generate_rtl

    spec, out = tmp_path / "spec.txt", tmp_path / "rtl"

    def run() -> str:
        calls.append(spec.read_text())
        generate_rtl(out)
        return f"{len(list(out.glob('*.v')))} modules"

    return Stage("rtl-generate", "the Verilog units", run, f"edgemoe rtl generate -o {out}",
                 inputs=(spec,), outputs=(out,), params=params or {},
                 modules=("edgemoe.hls.rtl.generate",), data=("hls/templates/rtl",))


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path / "stamps", echo=lambda line: None)


def test_second_run_skips_a_stage_whose_inputs_are_unchanged(tmp_path: Path,
                                                             runner: Runner) -> None:
    """A stage that succeeded is skipped while its inputs and outputs hash the same."""
    (tmp_path / "spec.txt").write_text("a")
    calls: list[str] = []
    stage = rtl_stage(tmp_path, calls)
    first = runner.run([stage])
    second = runner.run([stage])
    assert [o.status for o in first + second] == ["ran", "skipped"], summary(first + second)
    assert calls == ["a"]
    assert second[0].result == first[0].result
    assert "skipped" in summary(second)


def test_changed_input_file_reruns_and_names_the_change(tmp_path: Path, runner: Runner) -> None:
    """Editing an input file reruns the stage, and the runner says which input changed."""
    (tmp_path / "spec.txt").write_text("a")
    calls: list[str] = []
    stage = rtl_stage(tmp_path, calls)
    runner.run([stage])
    (tmp_path / "spec.txt").write_text("b")
    inputs = fingerprint(stage.inputs, stage.params, stage.modules, stage.data)
    assert runner.why_run(stage, inputs) == f"changed: {tmp_path / 'spec.txt'}"
    assert runner.run([stage])[0].status == "ran"
    assert calls == ["a", "b"]


def test_changed_parameter_or_touched_output_reruns(tmp_path: Path, runner: Runner) -> None:
    """A new parameter value, or an output edited or deleted since, reruns the stage."""
    (tmp_path / "spec.txt").write_text("a")
    calls: list[str] = []
    runner.run([rtl_stage(tmp_path, calls, {"samples": 1})])
    assert runner.run([rtl_stage(tmp_path, calls, {"samples": 2})])[0].status == "ran"
    (tmp_path / "rtl" / "gelu_unit.v").write_text("// edited\n")
    assert runner.run([rtl_stage(tmp_path, calls, {"samples": 2})])[0].status == "ran"
    assert len(calls) == 3
    assert "// edited" not in (tmp_path / "rtl" / "gelu_unit.v").read_text()
    assert (tmp_path / "rtl" / "gelu_unit.v.edited").read_text() == "// edited\n"  # kept


def test_failed_stage_names_itself_and_its_command_and_leaves_no_stamp(
        tmp_path: Path, runner: Runner) -> None:
    """A stage that raises stops the run with its name, the reason and the rerun command;
    its old stamp is gone and later stages do not run."""
    from edgemoe.hls.generator import generate

    artifact, project = tmp_path / "artifact", tmp_path / "hls"
    artifact.mkdir()
    (tmp_path / "spec.txt").write_text("a")
    calls: list[str] = []
    later = rtl_stage(tmp_path, calls)
    hls = Stage("hls", "generate the HLS project", lambda: str(generate(artifact, project)),
                f"edgemoe hls generate {artifact} -o {project}", inputs=(artifact,),
                outputs=(project,), modules=("edgemoe.hls.generator",))
    runner.stamp_path(hls).parent.mkdir(parents=True)
    runner.stamp_path(hls).write_text("{}")  # a stamp from an earlier, successful run
    with pytest.raises(StageFailed) as failed:
        runner.run([hls, later])
    message = str(failed.value)
    assert message.startswith("stage 'hls' failed: "), message
    assert "manifest.json" in message.splitlines()[0], message  # the artifact's own error
    assert f"\n rerun it alone: edgemoe hls generate {artifact} -o {project}\n" in message
    assert not runner.stamp_path(hls).exists()
    assert "Traceback" in (runner.stamp_dir / "hls.traceback.txt").read_text()
    assert calls == []


def test_code_version_follows_project_imports() -> None:
    """A stage's code is its modules and every project module they import, lazily too."""
    files = {p.relative_to(SOURCE_ROOT).as_posix() for p in code_files(["edgemoe.model.train"])}
    assert {"model/train.py", "model/data/scenes.py", "sim/atomic.py"} <= files
    assert "hls/csim.py" not in files
    assert "model/export.py" in {p.relative_to(SOURCE_ROOT).as_posix()
                                 for p in code_files(["edgemoe.model.cli"])}  # lazy import
    assert code_version(["edgemoe.hls.csim"]) != code_version(["edgemoe.hls.csim"],
                                                              ["hls/include"])
    with pytest.raises(ValueError, match="no project module"):
        code_files(["edgemoe.model.trian"])


def _resolve(args: list[str]) -> None:
    """Parse an ``edgemoe ...`` command line as click would, without running it."""
    command: click.Command = main
    context = click.Context(main, info_name="edgemoe")
    while isinstance(command, click.Group):
        name, *args = args
        command = command.get_command(context, name)
        assert command is not None, f"no command {name!r}"
    command.make_context(command.name, args)


def test_flow_stages_rerun_commands_are_real_commands(tmp_path: Path) -> None:
    """Every stage of the tiny flow names an `edgemoe` command line that parses; the
    bit-exact stages write the records the report reads."""
    paths, stages = flow("tiny")
    assert [s.name for s in stages][:9] == ["train", "eval", "quantize", "export", "hls", "csim",
                                            "rtl-generate", "rtl", "board"]
    for stage in stages:
        program, *args = stage.command.split()
        assert program == "edgemoe"
        _resolve(args)
    outputs = {path.name for stage in stages for path in stage.outputs}
    assert set(RECORDS.values()) <= outputs
    assert "demo" in SUBCOMMANDS
    assert json.dumps(stages[0].params)  # parameters are JSON, so they hash
    assert paths.stamps == Path("build/demo/tiny/stamps")
