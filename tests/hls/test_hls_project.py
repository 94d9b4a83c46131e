"""The generated HLS project: bit-exact in C simulation with the simulator, on every
layer, for both presets; a corrupted table is caught at its layer; bad parameters are
refused before anything is written; the scripts name the ZCU104 and their files."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgemoe.hls.csim import (
    CSIM_FLAGS,
    NATIVE_ARITHMETIC,
    CsimKernel,
    project_sources,
    run_csim,
)
from edgemoe.hls.cxx_build import CXX_STANDARD, WARNINGS, find_compiler
from edgemoe.hls.generator import ZCU104_BOARD, ZCU104_PART, generate
from edgemoe.hls.headers import ap_types_dir
from edgemoe.sim.accelerator import Accelerator, simulate
from edgemoe.sim.approx import Tables
from edgemoe.sim.artifact import Artifact, ArtifactError
from edgemoe.sim.fixed_array import FixedArray


def export(tiny_run: Path, out: Path, preset: str) -> Path:
    from edgemoe.model.checkpoint import load_checkpoint
    from edgemoe.model.data.datasets import SceneDataset
    from edgemoe.model.export import export_artifact
    from edgemoe.model.hardware_weights import hardware_weights
    from edgemoe.sim.config import AcceleratorConfig
    from edgemoe.sim.quant import calibrate

    model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
    weights = hardware_weights(model)
    calibration = SceneDataset("train", 48, 64, 128).images[:8].numpy()
    spec = calibrate(model.config, weights, calibration, preset)
    images = SceneDataset("val", 16, 64, 128).images[:1].numpy()
    return export_artifact(model, weights, spec, AcceleratorConfig(), out, images,
                           progress=False)


@pytest.fixture(scope="module", params=["int16", "edge-moe"])
def generated(request, tiny_run: Path, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp(request.param)
    artifact = export(tiny_run, root / "tiny", request.param)
    return artifact, generate(artifact, root / "hls")


def test_csim_equals_the_simulator_on_every_layer(generated) -> None:
    """Every layer's output for every task and vector: the same integers."""
    artifact, project = generated
    assert NATIVE_ARITHMETIC in CSIM_FLAGS  # the ap_int path: the test below
    report = run_csim(project, artifact)
    assert report.passed, "\n".join(str(t) for t in report.taps if not t.equal)
    # 2 tasks x 1 image x (embed + 4 layers x 10 outputs + final norm)
    assert len(report.taps) == 2 * 42
    assert {t.name for t in report.taps} >= {"embed", "blocks.0.scores", "blocks.1.gate_probs",
                                             "blocks.3.out", "norm"}


def test_the_ap_int_arithmetic_synthesis_reads_gives_the_same_integers(
        generated, tmp_path: Path) -> None:
    """The products and sums as synthesis, the lint and Vitis's own C simulation read them
    (ap_int operators, no EDGEMOE_NATIVE_ARITHMETIC): every layer equal as well."""
    from edgemoe.hls.cxx_build import compile_cxx

    artifact, project = generated
    binary = compile_cxx(project_sources(project), name="csim_ap_int",
                         extra_include_dirs=[project / "include"], extra_flags=("-O1",))
    report = run_csim(project, artifact, binary=binary)
    assert report.passed, "\n".join(str(t) for t in report.taps if not t.equal)
    assert len(report.taps) == 2 * 42


def test_a_changed_table_entry_is_caught_at_its_layer(generated, tmp_path: Path) -> None:
    """Corrupt one GELU table entry: csim reports the first mismatch at layer 0's MLP."""
    artifact, project = generated
    broken = tmp_path / "hls"
    shutil.copytree(project, broken)
    config = broken / "include" / "config.hpp"
    text = config.read_text()
    table = re.search(r"GELU_TABLE\[GELU_ENTRIES \+ 1\] = \{[^\n]*\n(.*?)\};", text, re.S)
    entries = [int(v) for v in table.group(1).replace("\n", " ").split(",")]
    entries[32] += 3_000  # d(0.5) raised by ~0.003, within the steps config.hpp bounds
    text = text.replace(table.group(1), ", ".join(map(str, entries)))
    config.write_text(text)
    report = run_csim(broken, artifact)
    assert not report.passed
    first = next(t for t in report.taps if not t.equal)
    assert first.name == "blocks.0.hidden", str(first)
    before = {"embed", "blocks.0.norm1", "blocks.0.q", "blocks.0.attn", "blocks.0.norm2"}
    assert all(t.equal for t in report.taps if t.name in before)


def test_operand_widths_are_the_artifacts_bounds_and_are_checked(generated,
                                                                 tmp_path: Path) -> None:
    """config.hpp's multiplier operand widths are what the resource model counts
    (datapath_widths), and C simulation checks every narrowing: a LayerNorm operand bound
    two bits short stops the testbench, naming the bound, instead of truncating."""
    from edgemoe.hls.csim import CsimError
    from edgemoe.hls.datapath_widths import datapath_widths

    artifact, project = generated
    text = (project / "include" / "config.hpp").read_text()
    declared = dict(re.findall(r"constexpr int (\w+_BITS) = (\d+);", text))
    widths = datapath_widths(Artifact(artifact).manifest)
    assert int(declared["LN_CENTERED_BITS"]) == widths.ln_centered
    assert int(declared["SOFTMAX_TOTAL_BITS"]) == widths.softmax_total
    assert int(declared["LN_INV_STD_BITS"]) == widths.ln_inv_std < 64

    broken = tmp_path / "hls"
    shutil.copytree(project, broken)
    config = broken / "include" / "config.hpp"
    config.write_text(text.replace(f"LN_INV_STD_BITS = {widths.ln_inv_std};",
                                   f"LN_INV_STD_BITS = {widths.ln_inv_std - 2};"))
    with pytest.raises(CsimError, match=f"outside its operand bound \\({widths.ln_inv_std - 2} "
                                        "bits\\)"):
        run_csim(broken, artifact)


def test_generated_sources_compile_without_warnings(generated, tmp_path: Path) -> None:
    _, project = generated
    command = [find_compiler().path, CXX_STANDARD, "-O0", *WARNINGS, "-c",
               f"-I{project / 'include'}", "-isystem", str(ap_types_dir())]
    for source in [*project_sources(project), project / "sw" / "c_api.cpp"]:
        done = subprocess.run([*command, str(source), "-o", str(tmp_path / "out.o")],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr, done.stderr


def test_shared_library_runs_the_kernel_on_byte_buffers(generated) -> None:
    artifact, project = generated
    loaded = Artifact(artifact)
    kernel = CsimKernel(project)
    weights = np.frombuffer((artifact / "weights.bin").read_bytes(), np.uint8).copy()
    image = loaded.vector_images()[0]
    images = np.ascontiguousarray(image.reshape(-1))
    tokens = np.zeros(kernel.token_bytes, np.uint8)
    scratch = np.zeros(kernel.scratch_bytes, np.uint8)
    kernel.run(weights, images, tokens, scratch, task=1, num_images=1)
    expected = simulate(loaded.manifest, loaded.weights(), image, "depth").tokens
    width = 2 if expected.fmt.width <= 16 else 4
    got = np.frombuffer(tokens.tobytes(), f"<i{width}")[:expected.size]
    assert got.tolist() == expected.raw.reshape(-1).tolist()
    with pytest.raises(ValueError, match="refused its buffers"):
        kernel.run(weights, images, tokens[:10], scratch, task=0, num_images=1)


def test_unimplementable_parameters_are_refused_before_writing(generated, tmp_path) -> None:
    artifact, _ = generated
    copy = tmp_path / "artifact"
    shutil.copytree(artifact, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["accelerator"]["tile_in"] = 48
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="dim 64 is not a multiple of the linear tile 48x16"):
        generate(copy, tmp_path / "hls")
    assert not (tmp_path / "hls").exists()


# Every Xilinx command (and the file operations the scripts make) only logs itself; the
# implementation run reports the slack the test asks for, and exit ends the script.
TCL_STUBS = """
proc unknown {args} { puts "CALL $args" }
proc exit {args} { error "EXIT $args" }
rename file _file
proc file {args} { puts "CALL file [lindex $args 0]" }
proc get_property {name args} {
    if {[string match STATS.* $name]} { return $::slack }
    puts "CALL get_property $name"
}
"""


def _run_tcl(project: Path, script: str, slack: float, tmp_path: Path) -> str:
    runner = tmp_path / f"run_{script}"
    runner.write_text(TCL_STUBS + f"set slack {slack}\n"
                      f"if {{[catch {{source {script}}} message]}} {{ puts $message }}\n")
    done = subprocess.run(["tclsh", str(runner)], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tcl_scripts_parse_and_name_their_files_and_target(generated, tmp_path) -> None:
    _, project = generated
    if shutil.which("tclsh") is None:
        pytest.skip("tclsh is not installed")
    assert "CALL csynth_design" in _run_tcl(project, "vitis_hls.tcl", 0.0, tmp_path)
    met = _run_tcl(project, "vivado.tcl", 0.05, tmp_path)
    assert "CALL launch_runs impl_1 -to_step write_bitstream" in met
    assert met.strip().endswith("EXIT"), met  # the script's own end, after the copies
    missed = _run_tcl(project, "vivado.tcl", -0.2, tmp_path)
    assert "ERROR: timing is not met; no bitstream written" in missed
    assert "write_bitstream" not in missed and missed.strip().endswith("EXIT 1")
    hls = (project / "vitis_hls.tcl").read_text()
    vivado = (project / "vivado.tcl").read_text()
    assert f"set_part {ZCU104_PART}" in hls and ZCU104_PART in vivado and ZCU104_BOARD in vivado
    for name in re.findall(r"add_files (?:-tb )?(\S+)", hls):
        assert (project / name).is_file(), name
    assert "S_AXI_HP0_FPD" in vivado and "M_AXI_HPM0_FPD" in vivado
    assert "bitstream/edgemoe.hwh" in vivado
    assert '-std=c++14' in hls  # what UG1399 documents for Vitis HLS


# The Xilinx headers left-shift negative values (ap_private::clearUnusedBits), which C++20
# defines and every compiler does as two's complement: that one check is left out.
SANITIZERS = ("-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize=shift-base",
              "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined")


@pytest.fixture(scope="module")
def sanitized_testbench(generated) -> Path:
    """The csim testbench built with AddressSanitizer and UndefinedBehaviorSanitizer (its
    native products and sums included: a signed overflow there is a report)."""
    from edgemoe.hls.cxx_build import compile_cxx

    _, project = generated
    return compile_cxx(project_sources(project), name="csim_sanitized",
                       extra_include_dirs=[project / "include"],
                       extra_flags=(*SANITIZERS, NATIVE_ARITHMETIC))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


@pytest.mark.parametrize(("damage", "named"), [
    (None, None),
    (lambda a: _truncate(a / "vectors" / "depth" / "blocks.2.scores.bin"),
     "blocks.2.scores.bin has"),
    (lambda a: (a / "weights.bin").write_bytes(b""), "weights.bin has 0 bytes"),
    (lambda a: (a / "vectors" / "images.bin").unlink(), "images.bin is missing"),
    (lambda a: (a / "vectors" / "segmentation" / "norm.bin").write_bytes(b"\0" * 10_000_000),
     "norm.bin has 10000000 bytes"),
])
def test_the_testbench_checks_every_file_size_under_sanitizers(
        generated, sanitized_testbench: Path, tmp_path: Path, damage, named) -> None:
    """Good files: every layer equal, no sanitizer report; a truncated, empty, missing or
    oversized file: exit 2 naming it, before a byte of it is compared."""
    artifact, _ = generated
    copy = tmp_path / "artifact"
    shutil.copytree(artifact, copy)
    if damage is not None:
        damage(copy)
    done = subprocess.run([str(sanitized_testbench), str(copy)], capture_output=True,
                          text=True, timeout=600,
                          env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                               "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert "Sanitizer" not in done.stderr and "runtime error" not in done.stderr, done.stderr
    if damage is None:
        assert done.returncode == 0, done.stdout[-2000:]
        assert "all layers equal" in done.stdout
    else:
        assert done.returncode == 2 and named in done.stderr, done.stderr
        assert "artifact's manifest gives it" in done.stderr or "missing" in done.stderr


@pytest.mark.parametrize("design", ["coarse tables, 128-bit AXI, a head at a time",
                                    "512-bit AXI"])
def test_other_axi_widths_and_tables_stay_bit_exact(coarse_artifact: Path, export_design,
                                                    tmp_path: Path, design: str) -> None:
    """The manifest's AXI width, table parameters and attention's head groups reach the
    simulator (its golden vectors) and the generated C++ alike: every layer equal."""
    from edgemoe.sim.config import AcceleratorConfig

    artifact, axi_bits = coarse_artifact, 128
    if design == "512-bit AXI":
        axi_bits = 512
        artifact = export_design(tmp_path / "tiny", AcceleratorConfig(axi_bits=512), Tables())
    loaded = Artifact(artifact)
    manifest = loaded.manifest
    tables = manifest.approximations.tables
    assert manifest.weights.word_bytes == axi_bits // 8
    assert manifest.accelerator.attention_heads == (1 if axi_bits == 128 else None)
    assert manifest.buffers.token_words * axi_bits == manifest.buffers.token_elements * 16
    report = run_csim(generate(artifact, tmp_path / "hls"), artifact)
    assert report.passed, "\n".join(str(t) for t in report.taps if not t.equal)
    assert len(report.taps) == 2 * 42
    if tables != Tables():  # and the tables matter: the default ones give other tokens
        default = dataclasses.replace(manifest.spec, tables=Tables())
        engine = Accelerator(manifest.config, manifest.accelerator, default, loaded.weights())
        tokens = engine.run(loaded.vector_images()[0], "depth").tokens.raw
        assert not np.array_equal(tokens, loaded.golden_tokens("depth")[0])


def test_regenerating_keeps_synthesis_results_and_user_files(tiny_artifact: Path,
                                                             tmp_path: Path) -> None:
    """`hls generate`, then Vitis and Vivado leave hls_project/ and bitstream/, a user adds
    notes; `hls csim` (which regenerates) and `rtl generate` keep all of it."""
    from click.testing import CliRunner

    from edgemoe.host.flow.cli import main

    project, rtl = tmp_path / "hls", tmp_path / "rtl"
    for command in (["hls", "generate", tiny_artifact, "-o", project],
                    ["rtl", "generate", "--artifact", tiny_artifact, "-o", rtl]):
        result = CliRunner().invoke(main, [str(a) for a in command])
        assert result.exit_code == 0, result.output
    kept = {project / "hls_project" / "solution1" / "syn" / "report" / "csynth.rpt": "rpt",
            project / "bitstream" / "edgemoe.bit": "bits", project / "notes.txt": "mine",
            rtl / "thesis" / "chapter1.txt": "chapter 1"}
    for path, text in kept.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for command in (["hls", "csim", tiny_artifact, "-o", project],
                    ["hls", "generate", tiny_artifact, "-o", project],
                    ["rtl", "generate", "--artifact", tiny_artifact, "-o", rtl]):
        result = CliRunner().invoke(main, [str(a) for a in command])
        assert result.exit_code == 0, result.output
    assert {path: path.read_text() for path in kept} == kept
    assert (project / "src" / "top.cpp").is_file() and (rtl / "gelu_unit.v").is_file()


def test_make_bitstream_reuses_an_up_to_date_synthesis(generated, tmp_path) -> None:
    """`make bitstream` runs Vitis HLS again only when a kernel source changed since the
    exported IP (a dry run: no Xilinx tools needed)."""
    import os
    import time

    _, project = generated
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    ip = copy / "hls_project" / "solution1" / "impl" / "ip" / "component.xml"
    ip.parent.mkdir(parents=True)
    ip.write_text("<component/>")
    later = time.time() + 60
    os.utime(ip, (later, later))

    def planned() -> str:
        return subprocess.run(["make", "-n", "bitstream"], cwd=copy, capture_output=True,
                              text=True, check=True).stdout

    assert "vitis_hls" not in planned() and "vivado -mode batch" in planned()
    os.utime(copy / "src" / "linear.cpp", (later + 60, later + 60))
    assert "vitis_hls" in planned()


def test_the_layer_norm_epsilon_of_the_config_reaches_every_layer(tiny_run: Path,
                                                                  tmp_path: Path) -> None:
    """M3ViT's 1e-6 (here 1e-3, so that it shows in the variances' format): torch, the
    float reference, the simulator's golden vectors and csim all add the config's."""
    import torch

    from edgemoe.model.checkpoint import load_checkpoint
    from edgemoe.model.data.datasets import SceneDataset
    from edgemoe.model.export import export_artifact
    from edgemoe.model.hardware_weights import hardware_weights
    from edgemoe.sim.config import AcceleratorConfig
    from edgemoe.sim.network import float_forward
    from edgemoe.sim.quant import calibrate

    model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
    model.config = dataclasses.replace(model.config, layer_norm_eps=1e-3)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    for norm in norms:
        norm.eps = 1e-3
    weights = hardware_weights(model)
    image = SceneDataset("val", 16, 64, 128).images[:1].numpy()
    with torch.no_grad():
        tokens, _ = model.features(torch.from_numpy(image[0]).permute(2, 0, 1)[None].float()
                                   / 255, "depth")
    assert np.max(np.abs(float_forward(weights, model.config, image[0], "depth")
                         - tokens[0].double().numpy())) < 1e-4
    calibration = SceneDataset("train", 48, 64, 128).images[:8].numpy()
    spec = calibrate(model.config, weights, calibration, "int16")
    assert spec.layer_norm_eps == 1e-3 and spec.layer_norm("norm").eps == 1e-3
    artifact = export_artifact(model, weights, spec, AcceleratorConfig(), tmp_path / "tiny",
                               image, progress=False)
    manifest = Artifact(artifact).manifest
    assert manifest.config.layer_norm_eps == 1e-3 and manifest.spec == spec
    project = generate(artifact, tmp_path / "hls")
    final_norm = re.search(r"FINAL_NORM = \{.*?(\d+)\};", (project / "include" / "config.hpp")
                           .read_text(), re.S)
    norm = spec.layer_norm("norm")
    raw = FixedArray.from_float(norm.eps, norm.var_fmt).raw
    default = FixedArray.from_float(1e-5, norm.var_fmt).raw
    assert int(final_norm.group(1)) == int(raw) != int(default)
    report = run_csim(project, artifact)
    assert report.passed, "\n".join(str(t) for t in report.taps if not t.equal)
