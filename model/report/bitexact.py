"""Bit-exactness across the flow: the simulator against the artifact's golden vectors
(checked here), and the records the other stages leave in the results folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

from edgemoe.sim.accelerator import Accelerator
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.bitexact import first_mismatch
from edgemoe.sim.bitexact_record import (
    BitExactRecordError,
    BitExactResult,
    FirstMismatch,
    load_bitexact_results,
)

from .page import Section, Table

RUN_JSON = "run.json"


def simulator_check(artifact: Artifact, progress: bool = True) -> BitExactResult:
    """Every layer of every golden vector image, recomputed by the simulator now."""
    manifest = artifact.manifest
    engine = Accelerator.from_manifest(manifest, artifact.weights())
    images = artifact.vector_images()
    found, values = None, 0
    for task in tqdm(manifest.tasks, desc="golden vectors", unit="task", disable=not progress,
                     leave=False):
        golden = artifact.golden(task)
        for index, image in enumerate(images):
            trace = engine.run(image, task, trace=True).trace
            for name, expected in golden.items():
                mismatch = first_mismatch(expected.raw[index], trace[name].raw)
                values += expected.raw[index].size
                if mismatch is not None and found is None:
                    found = FirstMismatch(f"{task} image {index} {name}", mismatch.index,
                                          mismatch.expected, mismatch.got)
    return BitExactResult("simulator", "golden vectors of the artifact",
                          {"images": len(images), "tasks": len(manifest.tasks),
                           "values": values}, found is None, found,
                          f"edgemoe report {artifact.root}")


def from_run_json(path: Path) -> BitExactResult | None:
    """``edgemoe run --validate``'s record (``run.json``) as a bit-exactness result."""
    try:
        return _run_result(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as err:
        raise BitExactRecordError(f"{path} is not the run.json edgemoe run writes "
                                  f"({type(err).__name__}: {err})") from None


def _run_result(record: dict[str, Any]) -> BitExactResult | None:
    validation = record.get("validation")
    if not validation:
        return None
    device = record.get("device", "")
    stage = f"emulated board ({device})" if device in ("sim", "csim") else "board"
    checks = validation["checks"]
    failed = [c for c in checks if not c["equal"]]
    mismatch = None
    if failed:
        token, dim, expected, got = failed[0]["first_difference"]
        mismatch = FirstMismatch(f"{failed[0]['task']} image {failed[0]['image']} tokens",
                                 (token, dim), expected, got)
    return BitExactResult(stage, "simulator",
                          {"images": len({c["image"] for c in checks}), "runs": len(checks)},
                          not failed, mismatch,
                          f"edgemoe run {record.get('artifact')} --emulate {device} --validate "
                          f"{len({c['image'] for c in checks})}" if stage != "board" else None)


def expected_stages(artifact: Path, results: Path) -> dict[str, str]:
    """Stages the report looks for, and the command that records each into ``results``."""
    return {
        "csim": f"edgemoe hls csim {artifact} (recorded by edgemoe demo into {results})",
        "rtl units": (f"edgemoe rtl generate --artifact {artifact} -o build/rtl && "
                      f"edgemoe rtl test build/rtl (recorded by edgemoe demo into {results})"),
        "emulated board": f"edgemoe run {artifact} --emulate sim --validate 4 -o {results}",
    }


def _covers(stage: str, expected: str) -> bool:
    return stage == expected or stage.startswith(expected + " ")


def gather(artifact: Artifact, folders: list[Path], progress: bool = True,
           ) -> list[BitExactResult]:
    """The simulator's own check, then every record in ``folders`` (the first folder wins
    for a stage), including ``run.json`` from ``edgemoe run --validate``."""
    results = [simulator_check(artifact, progress)]
    for folder in folders:
        found = load_bitexact_results(folder)
        if (folder / RUN_JSON).is_file():
            converted = from_run_json(folder / RUN_JSON)
            found += [converted] if converted is not None else []
        seen = {r.stage for r in results}
        results += [r for r in found if r.stage not in seen]
    return results


def _counts(compared: dict[str, int]) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in compared.items())


def bitexact_section(results: list[BitExactResult], expected: dict[str, str]) -> Section:
    rows = []
    for result in results:
        rows.append([result.stage, result.compared_against, _counts(result.compared),
                     "bit-exact" if result.equal else "DIFFERS",
                     "" if result.first_mismatch is None else str(result.first_mismatch)])
    missing = {name: command for name, command in expected.items()
               if not any(_covers(r.stage, name) for r in results)}
    rows += [[name, "simulator", "", "not run", command] for name, command in missing.items()]
    exact = sum(r.equal for r in results)
    section = Section("bitexact", "Bit-exactness: simulator, C simulation, RTL, board",
                      tables=[Table(["stage", "compared against", "compared", "verdict",
                                     "first mismatch / how to run"], rows)])
    section.summary = (f"{exact} of {len(results)} recorded stages bit-exact"
                       + (f"; not run: {', '.join(missing)}" if missing else "") + ".")
    section.data = {"stages": [r.to_dict() for r in results], "not_run": missing}
    return section
