"""The manifest schema: the JSON Schema checked in is the code's, an export satisfies it,
and loading refuses, by name, what contradicts the model, its formats or the hardware."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edgemoe.sim.manifest import SCHEMA_FILE, Manifest, ManifestError, json_schema


def test_the_checked_in_json_schema_is_the_codes() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), (
        "sim/manifest.schema.json is stale: run `python -m edgemoe.sim.manifest`")


def test_an_exported_manifest_satisfies_the_json_schema(tiny_artifact: Path) -> None:
    document = json.loads((tiny_artifact / "manifest.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text()))
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        jsonschema.validate({**document, "model": {**document["model"], "dim": "64"}},
                            json_schema())


def _load(tiny_artifact: Path, change) -> str:
    document = json.loads((tiny_artifact / "manifest.json").read_text())
    change(document)
    with pytest.raises(ManifestError) as caught:
        Manifest.from_json(json.dumps(document))
    return str(caught.value)


def _tensor(document: dict, name: str) -> dict:
    return document["weights"]["tensors"][name]


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["model"].update(dim=128),
     r"weights\.tensors\.patch_embed\.weight\.shape\.0 is 64, expected 128"),
    (lambda d: d["accelerator"].update(attention_parallel=40),
     "attention_parallel 40 exceeds the 33 tokens"),
    (lambda d: _tensor(d, "blocks.0.attn.q.weight").update(offset=64, word=2),
     r"weights\.tensors\.blocks\.0\.attn\.q\.weight\.offset is 64, expected"),
    (lambda d: d["buffers"]["taps"][3].update(word=0),
     r"buffers\.taps\.3\.word is 0, expected"),
    (lambda d: d["kernel"]["arguments"][4].update(description="task; rm -rf /"),
     r"kernel\.arguments\.4\.description is 'task; rm -rf /', expected"),
    (lambda d: d["approximations"]["gelu"].update(step_bits=40),
     r"approximations\.gelu: gelu\.step_bits must be in \[1, 10\], got 40"),
    (lambda d: d["approximations"]["sites"]["blocks.1.gate.exp"].update(function="gelu"),
     r"approximations\.sites\.blocks\.1\.gate\.exp\.function is 'gelu', expected 'exp'"),
    (lambda d: d["quantization"]["formats"]["blocks.0.q"].update(int_bits=40),
     r"blocks\.0\.q: ap_fixed<16,40,AP_RND,AP_SAT> has 40 integer bits"),
    (lambda d: d["quantization"]["formats"].pop("blocks.2.k"), r"missing \['blocks\.2\.k'\]"),
    (lambda d: d["kernel"].update(name="top; touch x"), r"kernel\.name: 'top; touch x' is not "
                                                        r"allowed here"),
    (lambda d: d["kernel"]["arguments"][0].update(name="task"), "a keyword of C"),
    (lambda d: d["weights"].update(file="../weights.bin"), r"weights\.file: '\.\./weights\.bin'"),
    (lambda d: d["vectors"]["images"].update(shape=[1, 64, 64, 3]),
     r"vectors\.images\.shape is \[1, 64, 64, 3\]"),
    (lambda d: d["heads"]["layers"]["depth"][0].update(bias=None), "takes a weight and a bias"),
    (lambda d: d["accelerator"].update(clock_mhz=0), "clock_mhz must be a number from 10"),
    (lambda d: d["accelerator"].update(axi_bits=96), r"axi_bits must be one of \[128, 256, 512\]"),
    (lambda d: d.pop("buffers"), "buffers: missing"),
    (lambda d: d["model"].update(tasks=["segmentation", "depth\n#define X"]),
     r"tasks \['segmentation', 'depth\\n#define X'\] must be distinct names"),
])
def test_a_contradiction_is_refused_by_name(tiny_artifact: Path, change, message) -> None:
    import re

    text = _load(tiny_artifact, change)
    assert re.search(message, text), text
    assert "\n" not in text
