"""The csim build helper: real g++ with the real ap_types headers, cached by content."""

from __future__ import annotations

import ctypes
import importlib.util
import subprocess
from pathlib import Path

import pytest

from edgemoe.hls import cxx_build, headers
from edgemoe.hls.cxx_build import CompileError, compile_cxx


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGEMOE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run(binary: Path) -> str:
    return subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout


def test_headers_come_from_the_hls4ml_wheel_without_importing_it() -> None:
    folder = headers.ap_types_dir()
    assert (folder / "ap_fixed.h").is_file() and (folder / "hls_stream.h").is_file()
    assert "hls4ml" in folder.parts
    assert "hls4ml" not in __import__("sys").modules


def test_missing_wheel_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "hls4ml" else real(name, *a))
    with pytest.raises(headers.HeadersNotFoundError, match=r"pip install 'edgemoe\[hls\]'"):
        headers.ap_types_dir()


def test_builds_are_cached_by_content(cache: Path) -> None:
    """The same source returns the cached binary; a changed source builds anew."""
    source = '#include <ap_int.h>\n#include <cstdio>\nint main() { ap_int<9> x = 255; ' \
             'x++; std::printf("%d\\n", x.to_int()); }\n'
    first = compile_cxx(source, name="counter")
    assert run(first) == "-256\n"
    stamp = first.stat().st_mtime_ns
    assert compile_cxx(source, name="counter") == first
    assert first.stat().st_mtime_ns == stamp
    changed = compile_cxx(source.replace("255", "254"), name="counter")
    assert changed != first and run(changed) == "255\n"
    assert sorted(p.name for p in (cache / "cxx").iterdir()) == sorted([first.name, changed.name])


def test_compile_error_names_file_and_line(cache: Path, tmp_path: Path) -> None:
    """A broken source raises CompileError pointing at the first error; nothing is cached."""
    source = tmp_path / "kernel.cpp"
    source.write_text("#include <ap_fixed.h>\n\nint main() {\n    return undefined_name;\n}\n")
    with pytest.raises(CompileError) as caught:
        compile_cxx(source, name="kernel")
    assert caught.value.file == str(source) and caught.value.line == 4
    assert f"{source}:4:" in str(caught.value) and "undefined_name" in str(caught.value)
    assert not list((cache / "cxx").iterdir())


def test_warnings_that_matter_are_errors(cache: Path) -> None:
    with pytest.raises(CompileError, match="return"):
        compile_cxx("int f(int x) { if (x) return 1; }\nint main() { return f(0); }\n",
                    name="no_return")


def test_shared_library_loads_with_ctypes(cache: Path) -> None:
    source = ('#include <ap_fixed.h>\nextern "C" long long quantize(double x) {\n'
              '    ap_fixed<8, 3, AP_RND, AP_SAT> q = x;\n'
              '    return q.range(7, 0).to_int64();\n}\n')
    library = ctypes.CDLL(str(compile_cxx(source, kind="shared", name="quantize")))
    library.quantize.restype = ctypes.c_longlong
    library.quantize.argtypes = [ctypes.c_double]
    assert library.quantize(1.37) == 44
    assert library.quantize(100.0) == 127


def test_hls_vector_shim_is_element_wise_and_casts_back(cache: Path) -> None:
    """hls::vector ops work element by element, each result cast to T as in Vitis."""
    source = """\
#include <ap_fixed.h>
#include <hls_vector.h>
#include <cstdio>
using value_t = ap_fixed<8, 3, AP_RND, AP_SAT>;
int main() {
    hls::vector<value_t, 3> a{1.5, -2.25, 3.5};
    const hls::vector<value_t, 3> b(2.0);
    const auto sum = a + b, difference = a - b, product = a * b;
    for (std::size_t i = 0; i < a.size(); ++i) {
        std::printf("%g %g %g\\n", sum[i].to_double(), difference[i].to_double(),
                    product[i].to_double());
    }
    std::printf("%d %d\\n", int(a == a), int(a != b));
}
"""
    lines = run(compile_cxx(source, name="vector")).split("\n")
    # 3.5 + 2 and 3.5 * 2 saturate at the largest ap_fixed<8,3>, 3.96875
    assert lines[:4] == ["3.5 -0.5 3", "-0.25 -4 -4", "3.96875 1.5 3.96875", "1 1"]
    assert cxx_build.find_compiler().version.startswith("g++")
