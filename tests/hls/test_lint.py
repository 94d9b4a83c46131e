"""``edgemoe hls lint``: each rule reports its minimal violating snippet (and only that
rule), the mended snippet passes, and the generated projects are clean."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgemoe.hls.lint import RULES, LintError, lint_project, lint_sources

pytest.importorskip("clang.cindex")

# rule: (violating snippet, the same mended)
SNIPPETS: dict[str, tuple[str, str]] = {
    "pointer-member": ("""
        struct Layer { const int *weights; int rows; };
        int rows_of(Layer layer) { return layer.rows; }
        """, """
        struct Layer { unsigned weights_word; int rows; };
        int rows_of(Layer layer) { return layer.rows; }
        """),
    "pointer-comparison": ("""
        int first(const int *values) {
        #pragma HLS inline
            return values == nullptr ? 0 : values[0];
        }
        """, """
        int first(const int *values, bool present) {
        #pragma HLS inline
            return present ? values[0] : 0;
        }
        """),
    "unsized-array-parameter": ("""
        int total(const int values[], int count) {
            int sum = 0;
        total_values:
            for (int i = 0; i < count; ++i) {
        #pragma HLS loop_tripcount min = 1 max = 16
                sum += values[i];
            }
            return sum;
        }
        """, """
        int total(const int values[16], int count) {
            int sum = 0;
        total_values:
            for (int i = 0; i < count; ++i) {
        #pragma HLS loop_tripcount min = 1 max = 16
                sum += values[i];
            }
            return sum;
        }
        """),
    "element-address": ("""
        int head(const int values[16]) { return values[0]; }
        int caller() {
            int grid[4][4] = {};
            return head(&grid[0][0]);
        }
        """, """
        int head(const int values[4]) { return values[0]; }
        int caller() {
            int grid[4][4] = {};
            return head(grid[1]);
        }
        """),
    "division-in-pipeline": ("""
        int unit(const int values[64], int columns) {
            int sum = 0;
        unit_values:
            for (int i = 0; i < 64; ++i) {
        #pragma HLS pipeline II = 1
                sum += values[i] * (i % columns);
            }
            return sum;
        }
        """, """
        int unit(const int values[64], int columns) {
            int sum = 0, column = 0;
        unit_values:
            for (int i = 0; i < 64; ++i) {
        #pragma HLS pipeline II = 1
                sum += values[i] * column;
                column = column + 1 == columns ? 0 : column + 1;
            }
            return sum;
        }
        """),
    "missing-tripcount": ("""
        int unit(const int values[64], int count) {
            int sum = 0;
        unit_values:
            for (int i = 0; i < count; ++i) sum += values[i];
            return sum;
        }
        """, """
        constexpr int MAX_COUNT = 64;
        int unit(const int values[64], int count) {
            int sum = 0;
        unit_values:
            for (int i = 0; i < count; ++i) {
        #pragma HLS loop_tripcount min = 1 max = MAX_COUNT
                sum += values[i];
            }
            return sum;
        }
        """),
    "shared-unit": ("""
        int unit(int x) { return x * x; }
        int first_layer(int x) { return unit(x) + 1; }
        int second_layer(int x) { return unit(x) + 2; }
        int top(int x) {
        #pragma HLS interface s_axilite port = x
            return first_layer(x) + second_layer(x);
        }
        """, """
        int unit(int x) { return x * x; }
        int first_layer(int x) {
        #pragma HLS inline
            return unit(x) + 1;
        }
        int second_layer(int x) {
        #pragma HLS inline
            return unit(x) + 2;
        }
        int top(int x) {
        #pragma HLS interface s_axilite port = x
        #pragma HLS allocation function instances = unit limit = 1
            return first_layer(x) + second_layer(x);
        }
        """),
    "indirect-update": ("""
        void scatter(const unsigned short tokens[8], const int values[8], int sums[16]) {
        scatter_tokens:
            for (int i = 0; i < 8; ++i) {
        #pragma HLS pipeline II = 1
                sums[tokens[i]] += values[i];
            }
        }
        """, """
        void scatter(const unsigned short tokens[8], const int values[8], int sums[16]) {
        scatter_tokens:
            for (int i = 0; i < 8; ++i) {
        #pragma HLS pipeline II = 1
        #pragma HLS dependence variable = sums type = inter false
                sums[tokens[i]] += values[i];
            }
        }
        """),
    "hdl-keyword-port": ("""
        int top(int task) {
        #pragma HLS interface s_axilite port = task
            return task + 1;
        }
        """, """
        int top(int task_index) {
        #pragma HLS interface s_axilite port = task_index
            return task_index + 1;
        }
        """),
    "unknown-pragma": ("""
        int unit(const int values[64]) {
            int sum = 0;
        unit_values:
            for (int i = 0; i < 64; ++i) {
        #pragma HLS pipelin II = 1
        #pragma HLS unroll factr = 2
        #pragma HLS dependence variable = total type = inter false
                sum += values[i];
            }
            return sum;
        }
        """, """
        int unit(const int values[64]) {
            int sum = 0;
        unit_values:
            for (int i = 0; i < 64; ++i) {
        #pragma HLS pipeline II = 1
        #pragma HLS unroll factor = 2
        #pragma HLS dependence variable = sum type = inter false
                sum += values[i];
            }
            return sum;
        }
        """),
}


def lint_snippet(tmp_path: Path, code: str) -> list:
    source = tmp_path / "src" / "unit.cpp"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(textwrap.dedent(code))
    return lint_sources([source], tmp_path)


def test_every_rule_has_a_snippet() -> None:
    assert set(SNIPPETS) == set(RULES)


@pytest.mark.parametrize("rule", sorted(SNIPPETS))
def test_each_rule_reports_its_snippet_and_passes_the_mended_one(rule: str,
                                                                   tmp_path: Path) -> None:
    bad, good = SNIPPETS[rule]
    findings = lint_snippet(tmp_path / "bad", bad)
    assert findings, f"{rule}: no finding on its violating snippet"
    assert {f.rule for f in findings} == {rule}, "\n".join(map(str, findings))
    assert all(f.file.endswith("unit.cpp") and f.line > 0 for f in findings)
    assert lint_snippet(tmp_path / "good", good) == []


def test_division_in_a_function_the_pipelined_loop_calls_is_found(tmp_path: Path) -> None:
    findings = lint_snippet(tmp_path, """
        #include <ap_int.h>
        ap_int<32> share(ap_int<32> value, int parts) {
        #pragma HLS inline
            return value / parts;
        }
        int unit(const int values[64], int parts) {
            int sum = 0;
        unit_values:
            for (int i = 0; i < 64; ++i) {
        #pragma HLS pipeline II = 1
                sum += share(values[i], parts).to_int();
            }
            return sum;
        }
        """)
    assert [(f.rule, f.line) for f in findings] == [("division-in-pipeline", 5)]


def test_an_index_read_into_a_local_first_is_indirect_too(tmp_path: Path) -> None:
    findings = lint_snippet(tmp_path, """
        void scatter(const unsigned short tokens[8], const int values[8], int sums[16][4]) {
        scatter_tokens:
            for (int i = 0; i < 8; ++i) {
        #pragma HLS pipeline II = 1
                const int token = tokens[i];
                sums[token][i % 4] += values[i];
            }
        }
        """)
    assert [(f.rule, f.line) for f in findings] == [("indirect-update", 7)]


def test_increments_and_intra_pragmas_are_indirect_updates_too(tmp_path: Path) -> None:
    findings = lint_snippet(tmp_path, """
        void count(const unsigned char bins[64], int histogram[16]) {
        count_bins:
            for (int i = 0; i < 64; ++i) {
        #pragma HLS pipeline II = 1
        #pragma HLS dependence variable = histogram type = intra false
                histogram[bins[i]]++;
            }
        }
        """)
    assert [(f.rule, f.line) for f in findings] == [("indirect-update", 7)]


def test_legal_code_is_not_reported(tmp_path: Path) -> None:
    """A comparison is not an update, II is case-blind, a constant named at namespace
    scope bounds a loop, and a member read into a local is not a memory read."""
    findings = lint_snippet(tmp_path, """
        constexpr int SIZE = 16;
        struct Config { int row; };
        int unit(const unsigned char bins[64], const int hist[SIZE], Config config,
                 int sums[SIZE][4]) {
            int empty = 0;
        unit_bins:
            for (int i = 0; i < 64; ++i) {
        #pragma HLS pipeline ii = 1
                if (hist[bins[i]] == 0) ++empty;
                const int row = config.row;
                sums[row][i % 4] += 1;
            }
            return empty;
        }
        """)
    assert findings == []


def test_two_call_sites_in_one_parent_need_the_allocation_limit(tmp_path: Path) -> None:
    findings = lint_snippet(tmp_path, """
        int unit(int x) { return x * x; }
        int top(int x) {
        #pragma HLS interface s_axilite port = x
            return unit(x) + unit(x + 1);
        }
        """)
    assert [f.rule for f in findings] == ["shared-unit"]
    assert "2 places in top" in findings[0].message


def test_sources_that_do_not_compile_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LintError, match=r"unit\.cpp:1"):
        lint_snippet(tmp_path, "int broken( {\n")
    with pytest.raises(LintError, match="no src"):
        lint_project(tmp_path / "empty")


def test_generated_projects_are_clean(tiny_artifact: Path, coarse_artifact: Path,
                                      tmp_path: Path) -> None:
    """The int16 tiny project through the CLI (generate runs the lint), and the coarse
    design at 128-bit words."""
    from edgemoe.hls.cli import hls
    from edgemoe.hls.generator import generate

    result = CliRunner().invoke(hls, ["generate", str(tiny_artifact), "-o",
                                      str(tmp_path / "tiny")])
    assert result.exit_code == 0, result.output
    assert f"follows all {len(RULES)} rules" in result.output
    assert lint_project(generate(coarse_artifact, tmp_path / "coarse")) == []


def test_the_lint_command_names_file_and_line(tiny_artifact: Path, tmp_path: Path) -> None:
    from edgemoe.hls.cli import hls
    from edgemoe.hls.generator import generate

    project = generate(tiny_artifact, tmp_path / "hls")
    linear = project / "src" / "linear.cpp"
    text = linear.read_text()
    linear.write_text(text.replace("#pragma HLS loop_tripcount min = 1 max = MAX_STRIPS\n", ""))
    result = CliRunner().invoke(hls, ["lint", str(project)])
    assert result.exit_code == 1
    line = text[:text.index("multiply_strips_strips:")].count("\n") + 2
    assert f"linear.cpp:{line}: missing-tripcount: multiply_strips/multiply_strips_strips" \
        in result.output
    assert "1 findings" in result.output


@pytest.mark.parametrize("preset", ["int16", "edge-moe"])
def test_the_m3vit_s_projects_are_clean(preset: str, tmp_path: Path) -> None:
    """The paper's shapes (an untrained m3vit-s, exported as `edgemoe export` does)."""
    import numpy as np
    import torch

    from edgemoe.hls.generator import generate
    from edgemoe.model.data.scenes import render_scene
    from edgemoe.model.export import export_artifact
    from edgemoe.model.hardware_weights import hardware_weights
    from edgemoe.model.m3vit import M3ViT
    from edgemoe.sim.config_file import load_config
    from edgemoe.sim.quant import calibrate

    document = load_config("m3vit-s")
    config = document.model
    torch.manual_seed(0)
    model = M3ViT(config).eval()
    weights = hardware_weights(model)
    scenes = [render_scene(s, config.image_height, config.image_width).image for s in range(2)]
    spec = calibrate(config, weights, scenes[1:], preset)
    artifact = export_artifact(model, weights, spec, document.accelerator,
                               tmp_path / "artifact", np.stack(scenes[:1]), progress=False)
    assert lint_project(generate(artifact, tmp_path / "hls")) == []
