"""Hostile artifacts against every command that takes one: a missing or mistyped key, a value
out of range, injection text in every string that could reach generated code, paths that
lead out of the folder, and truncated, emptied or flipped files. Each run must end in one
line ``Error: ...`` naming the problem, with no traceback, nothing executed and nothing
written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgemoe.host.flow.cli import main

Mutation = Callable[[Path, Path], None]  # (artifact copy, sentinel path)


def _edit(change: Callable[[dict, Path], None]) -> Mutation:
    def mutate(artifact: Path, sentinel: Path) -> None:
        path = artifact / "manifest.json"
        document = json.loads(path.read_text())
        change(document, sentinel)
        path.unlink()  # the copy's files are links to the original's
        path.write_text(json.dumps(document))
    return mutate


def _rewrite(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _flip(relative: str, at: int = 100) -> Mutation:
    def mutate(artifact: Path, _: Path) -> None:
        data = bytearray((artifact / relative).read_bytes())
        data[at % len(data)] ^= 0x10
        _rewrite(artifact / relative, bytes(data))
    return mutate


def _truncate(relative: str, keep: float = 0.5) -> Mutation:
    def mutate(artifact: Path, _: Path) -> None:
        data = (artifact / relative).read_bytes()
        _rewrite(artifact / relative, data[:int(len(data) * keep)])
    return mutate


def _remove(section: str, *path: str) -> Mutation:
    def change(document: dict, _: Path) -> None:
        for key in path:
            document = document[key] if not isinstance(document, list) else document[int(key)]
        del document[section]
    return _edit(change)


def _set(value, *path: str) -> Mutation:
    def change(document: dict, sentinel: Path) -> None:
        *parents, last = path
        for key in parents:
            document = document[int(key)] if isinstance(document, list) else document[key]
        chosen = value(sentinel) if callable(value) else value
        if isinstance(document, list):
            document[int(last)] = chosen
        else:
            document[last] = chosen
    return _edit(change)


def _inject(template: str) -> Callable[[Path], str]:
    return lambda sentinel: template.format(touch=f"touch {sentinel}")


def _symlink_out(relative: str) -> Mutation:
    def mutate(artifact: Path, sentinel: Path) -> None:
        outside = sentinel.parent / f"outside-{relative.replace('/', '_')}"
        outside.write_bytes((artifact / relative).read_bytes())
        (artifact / relative).unlink()
        (artifact / relative).symlink_to(outside)
    return mutate


def _entries(document: dict) -> list[dict]:
    """Every file entry of a manifest."""
    entries = [document["weights"], document["heads"], document["vectors"]["images"]]
    entries += [e for outputs in document["vectors"]["outputs"].values()
                for e in outputs.values()]
    return entries + list(document.get("onnx", {}).values())


def _resigned(relative: str, content: Callable[[bytes], bytes], rename: str | None = None,
              ) -> Mutation:
    """Change a file and give the manifest its new size and SHA-256 (and name), so only a
    check of what the file holds can refuse it."""
    def mutate(artifact: Path, _: Path) -> None:
        data = content((artifact / relative).read_bytes())
        (artifact / relative).unlink()
        (artifact / (rename or relative)).write_bytes(data)
        path = artifact / "manifest.json"
        document = json.loads(path.read_text())
        entry = next(e for e in _entries(document) if e["file"] == relative)
        entry.update(file=rename or relative, bytes=len(data),
                     sha256=hashlib.sha256(data).hexdigest())
        path.unlink()
        path.write_text(json.dumps(document))
    return mutate


def _external_data(data: bytes) -> bytes:
    """The same graph with its largest tensor moved to a file beside it."""
    import onnx

    model = onnx.load_model_from_string(data)
    tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "secret.bin"
    tensor.ClearField("raw_data")
    return model.SerializeToString()


def _rename_key(old: str, new: str, *path: str) -> Mutation:
    def change(document: dict, _: Path) -> None:
        for key in path:
            document = document[key]
        document[new] = document.pop(old)
    return _edit(change)


VARIANTS: dict[str, Mutation] = {
    # structure: every section, and keys inside them
    **{f"no {section}": _remove(section) for section in (
        "format_version", "name", "model", "accelerator", "quantization", "approximations",
        "weights", "buffers", "kernel", "heads", "vectors")},
    "no weights.sha256": _remove("sha256", "weights"),
    "no model.dim": _remove("dim", "model"),
    "no kernel.arguments": _remove("arguments", "kernel"),
    "no buffers.taps": _remove("taps", "buffers"),
    "no vectors.images": _remove("images", "vectors"),
    "unknown key": _set(1, "kernel", "extra"),
    "manifest not JSON": lambda a, _: _rewrite(a / "manifest.json", b"{\"format_version\": 2,"),
    "manifest not UTF-8": lambda a, _: _rewrite(a / "manifest.json", b"\xff\xfe\x00garbage"),
    "manifest is null": lambda a, _: _rewrite(a / "manifest.json", b"null"),
    "no manifest": lambda a, _: (a / "manifest.json").unlink(),
    # types
    "dim is a string": _set("64", "model", "dim"),
    "clock is a string": _set("300", "accelerator", "clock_mhz"),
    "signed is 1": _set(1, "quantization", "formats", "blocks.0.q", "signed"),
    "width is 16.5": _set(16.5, "quantization", "formats", "blocks.0.q", "width"),
    "arguments is a mapping": _set({}, "kernel", "arguments"),
    "tasks is a string": _set("segmentation", "model", "tasks"),
    # ranges and consistency
    "clock 0": _set(0, "accelerator", "clock_mhz"),
    "clock -300": _set(-300, "accelerator", "clock_mhz"),
    "clock 1e9": _set(1e9, "accelerator", "clock_mhz"),
    "axi_bits 96": _set(96, "accelerator", "axi_bits"),
    "dim disagrees with tensors": _set(128, "model", "dim"),
    "P beyond the tokens": _set(64, "accelerator", "attention_parallel"),
    "101 integer bits": _set(101, "quantization", "formats", "blocks.0.attn.q.weight",
                             "int_bits"),
    "table bits 40": _set(40, "approximations", "exp", "table_bits"),
    "negative size": _set(-1, "weights", "bytes"),
    "version 1": _set(1, "format_version"),
    "moved tensor": _set(32, "weights", "tensors", "embed.position", "offset"),
    "moved tap": _set(0, "buffers", "taps", "5", "word"),
    "renamed register": _set("weights_lo", "kernel", "arguments", "0", "registers", "0",
                             "name"),
    # injection text in every string that could reach C++, Verilog, Make or Tcl
    "name injection": _set(_inject('tiny"\n$(shell {touch})\n'), "name"),
    "model name injection": _set(_inject("tiny\n#define X $({touch})"), "model", "name"),
    "kernel name injection": _set(_inject("edgemoe_top$({touch})"), "kernel", "name"),
    "argument injection": _set(_inject("weights; {touch}"), "kernel", "arguments", "0",
                               "name"),
    "bundle injection": _set(_inject("gmem\n#pragma {touch}"), "kernel", "arguments", "0",
                             "bundle"),
    "description injection": _set(_inject("*/ system(\"{touch}\"); /*"), "kernel",
                                  "arguments", "4", "description"),
    "task injection": _set(_inject('depth"; system("{touch}"); //'), "model", "tasks", "1"),
    "tap injection": _set(_inject('embed"; system("{touch}"); //'), "buffers", "taps", "0",
                          "name"),
    "vlnv injection": _set(_inject("edgemoe.org:hls:x\n{touch}"), "kernel", "vlnv"),
    "note injection": _set(lambda sentinel: [f"note\n$(touch {sentinel})"], "quantization",
                           "notes"),
    "head array injection": _set(_inject("../{touch}"), "heads", "layers", "depth", "0",
                                 "weight"),
    "format key injection": _rename_key("blocks.0.q", "blocks.0.q\"; $(touch x)",
                                        "quantization", "formats"),
    # paths
    "traversal": _set("../../../../etc/passwd", "weights", "file"),
    "absolute path": _set("/etc/passwd", "weights", "file"),
    "hidden traversal": _set("vectors/../../x.bin", "vectors", "images", "file"),
    "symlink out": _symlink_out("heads.npz"),
    "manifest symlinked out": _symlink_out("manifest.json"),
    # files: truncated, emptied, flipped, missing
    "weights truncated": _truncate("weights.bin"),
    "weights empty": lambda a, _: _rewrite(a / "weights.bin", b""),
    "weights flipped": _flip("weights.bin", 1000),
    "images flipped": _flip("vectors/images.bin"),
    "golden truncated": _truncate("vectors/depth/blocks.1.gate_probs.bin"),
    "golden flipped": _flip("vectors/segmentation/norm.bin"),
    "heads truncated": _truncate("heads.npz"),
    "onnx flipped": _flip("model_depth.onnx", 5000),
    "golden missing": lambda a, _: (a / "vectors/depth/embed.bin").unlink(),
    # consistent tampering: the manifest re-signed, so size and SHA-256 agree
    "onnx garbage re-signed": _resigned("model_depth.onnx", lambda d: b"\x08" + d[:4000]),
    "onnx external data re-signed": _resigned("model_segmentation.onnx", _external_data),
    "weights under another name": _resigned("weights.bin", lambda d: d, rename="w.bin"),
    "signed pixels": _set(True, "quantization", "formats", "pixels", "signed"),
    "a head doubling its grid 30 times": _edit(
        lambda document, _: document["heads"]["layers"]["depth"].extend(
            [{"op": "upsample2x"}] * 26)),
}

COMMANDS = {
    "hls generate": ["hls", "generate", "{artifact}", "-o", "{out}"],
    "hls csim": ["hls", "csim", "{artifact}", "-o", "{out}"],
    "run": ["run", "{artifact}", "--emulate", "sim", "-o", "{out}"],
    "run --validate": ["run", "{artifact}", "--emulate", "sim", "--validate", "1", "-o",
                       "{out}"],
    "estimate": ["estimate", "{artifact}", "--json", "{out}/estimate.json"],
    "report": ["report", "{artifact}", "-o", "{out}"],
    "rtl generate": ["rtl", "generate", "--artifact", "{artifact}", "-o", "{out}"],
    "rtl cosim": ["rtl", "cosim", "{artifact}", "--rtl", "{rtl}"],
}


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_command_refuses_a_tampered_artifact(variant: str, tiny_artifact: Path,
                                                   tmp_path: Path, monkeypatch) -> None:
    workspace = tmp_path / "workspace"
    artifact = workspace / "tiny"
    shutil.copytree(tiny_artifact, artifact, copy_function=os.link)
    sentinel = tmp_path / "PWNED"
    VARIANTS[variant](artifact, sentinel)
    monkeypatch.chdir(workspace)
    (workspace / "rtl").mkdir()
    before = _tree(workspace)
    refusals = set()
    for command, template in COMMANDS.items():
        arguments = [a.format(artifact=artifact, out=workspace / "out", rtl=workspace / "rtl")
                     for a in template]
        result = CliRunner().invoke(main, arguments)
        lines = [line for line in result.output.splitlines() if line.strip()]
        where = f"{variant} / {command}: {result.output[-600:]}"
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), where
        assert lines and lines[-1].startswith("Error: ") and "Traceback" not in result.output
        assert sum(line.startswith("Error: ") for line in lines) == 1, where
        assert not sentinel.exists(), f"{where}: the injected command ran"
        assert _tree(workspace) == before, f"{where}: wrote {_tree(workspace) - before}"
        refusals.add(lines[-1])
    # the same refusal from every command: each stopped at the artifact, not at a later step
    assert len(refusals) == 1, f"{variant}: {sorted(refusals)}"


@pytest.mark.parametrize(("variant", "arguments"), [
    ("kernel name injection", ["hls", "csim", "{artifact}", "-o", "{out}"]),
    ("traversal", ["run", "{artifact}", "--emulate", "sim", "--validate", "1"]),
])
def test_a_real_process_ends_in_one_line(variant: str, arguments: list[str], tiny_artifact,
                                         tmp_path: Path) -> None:
    """The installed command, as a user runs it: status 1, one line on stderr."""
    artifact = tmp_path / "tiny"
    shutil.copytree(tiny_artifact, artifact, copy_function=os.link)
    sentinel = tmp_path / "PWNED"
    VARIANTS[variant](artifact, sentinel)
    command = [str(Path(sys.executable).parent / "edgemoe"),
               *(a.format(artifact=artifact, out=tmp_path / "out") for a in arguments)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert not sentinel.exists() and not (tmp_path / "out").exists()
