"""The driver on the emulated ZCU104 under the real pynq library: the register sequence
the board sees, ap_ctrl_hs handshakes, faults, and bad input refused before the kernel
starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgemoe.host.driver import Accelerator, DriverError
from edgemoe.host.emulator import DDR_BASE, emulate
from edgemoe.host.hwh import write_emulated_hwh
from edgemoe.host.validate import validate
from edgemoe.sim.accelerator import simulate
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.manifest import Manifest


@pytest.fixture
def board(tiny_artifact: Path, tmp_path: Path):
    device, bitstream = emulate(tiny_artifact, tmp_path / "design")
    accelerator = Accelerator.load(tiny_artifact, bitstream, max_images=4, timeout=2.0)
    return device, accelerator


@pytest.fixture(scope="module")
def images(tiny_artifact: Path) -> np.ndarray:
    return Artifact(tiny_artifact).vector_images()


def test_register_sequence_follows_the_manifest(board, images) -> None:
    device, accelerator = board
    device.bus_log = []
    accelerator.run(images[:2], "depth")
    kernel = accelerator.manifest.kernel
    addresses = {"weights": accelerator.weights, "images": accelerator.images,
                 "tokens": accelerator.tokens, "scratch": accelerator.scratch,
                 "weights_mirror": accelerator.weights}
    scalars = {"task_index": accelerator.manifest.tasks.index("depth"), "num_images": 2,
               "debug": 0}
    expected = []
    for argument in kernel.arguments:
        if argument.kind == "pointer":
            address = addresses[argument.name].device_address
            assert address >> 32 != 0  # the emulated DDR lies above 4 GiB
            expected += [("write", argument.offset, address & 0xFFFF_FFFF),
                         ("write", argument.offset + 4, address >> 32)]
        else:
            expected.append(("write", argument.offset, scalars[argument.name]))
    control, bits = kernel.control.ctrl.offset, kernel.control.bits
    expected.append(("write", control, bits.ap_start))
    assert device.bus_log[:len(expected)] == expected
    polls = device.bus_log[len(expected):]
    assert polls and all(kind == "read" and offset == control for kind, offset, _ in polls)
    assert polls[-1][2] & bits.ap_done
    assert not any(value & bits.ap_done for _, _, value in polls[:-1])
    assert min(a.device_address for a in addresses.values()) >= DDR_BASE


def test_ap_done_is_cleared_by_the_read_that_sees_it(board, images) -> None:
    device, accelerator = board
    accelerator.run(images[:1], "depth")  # leaves its arguments in the registers
    kernel, manifest = accelerator.kernel, accelerator.manifest
    control, done = manifest.kernel.control.ctrl.offset, manifest.kernel.control.bits.ap_done
    assert not kernel.read(control) & done  # the driver's poll consumed it
    kernel.start(manifest)
    assert kernel.read(control) & done
    assert not kernel.read(control) & done
    assert device.kernel_runs == 2


def test_results_are_the_simulators_for_every_task(board, images, tiny_artifact) -> None:
    _, accelerator = board
    artifact = Artifact(tiny_artifact)
    weights = artifact.weights()
    for task in artifact.manifest.tasks:
        result = accelerator.run(images, task)
        for index, image in enumerate(images):
            expected = simulate(artifact.manifest, weights, image, task).tokens
            np.testing.assert_array_equal(result.raw[index], expected.raw)
            np.testing.assert_array_equal(result.tokens[index], expected.to_float())


def test_task_switches_reload_no_weights_unless_asked(board, images) -> None:
    device, accelerator = board
    weights = device.region(accelerator.weights.device_address)
    for task in ["segmentation", "depth", "segmentation", "depth"]:
        accelerator.run(images[:1], task)
    assert (accelerator.weight_loads, weights.flushes, device.backend.weight_unpacks) == (1, 1, 1)
    accelerator.run(images[:1], "depth", reload_weights=True)
    assert (accelerator.weight_loads, weights.flushes, device.backend.weight_unpacks) == (2, 2, 2)


def test_the_kernel_sees_only_flushed_memory(board) -> None:
    device, accelerator = board
    buffer = accelerator.images
    buffer[:4] = [1, 2, 3, 4]
    assert device.memory(buffer.device_address, 4).tolist() == [0, 0, 0, 0]
    buffer.flush()
    assert device.memory(buffer.device_address, 4).tolist() == [1, 2, 3, 4]


def test_a_hung_kernel_times_out_and_the_device_stays_usable(board, images) -> None:
    device, accelerator = board
    accelerator.timeout = 0.2
    device.faults.hang = True
    with pytest.raises(TimeoutError, match=r"no ap_done after 0\.2\d* s \(timeout 0.2 s\)"):
        accelerator.run(images[:1], "segmentation")
    assert device.faults.fired == ["hang"]
    accelerator.timeout = 2.0
    checks = validate(accelerator, images[:1])
    assert all(check.equal for check in checks)


def test_a_wrong_output_word_is_caught_at_its_index(board, images) -> None:
    device, accelerator = board
    token, dim = 5, 17
    element_bytes = accelerator.layout.feature_bits // 8
    device.faults.wrong_word = ((token * accelerator.manifest.config.dim + dim) * element_bytes,
                                0x04)
    checks = validate(accelerator, images[:2])
    broken = [check for check in checks if not check.equal]
    assert len(broken) == 1 and (broken[0].task, broken[0].image) == ("segmentation", 0)
    where, expected, got = broken[0].first_difference[:2], *broken[0].first_difference[2:]
    assert where == (token, dim) and got - expected in (4, -4)
    assert f"token {token}, dim {dim}" in str(broken[0])


def _design_with(artifact: Path, **kernel_changes) -> Manifest:
    """The artifact's manifest as another design would have it (not a valid artifact: only
    to write that design's handoff)."""
    manifest = Artifact(artifact).manifest
    return manifest.model_copy(update={"kernel": manifest.kernel.model_copy(
        update=kernel_changes)})


def test_a_register_map_unlike_the_manifest_is_refused(tiny_artifact, tmp_path) -> None:
    device, bitstream = emulate(tiny_artifact, tmp_path)
    kernel = Artifact(tiny_artifact).manifest.kernel
    moved = [a.model_copy(update={"registers": tuple(r.model_copy(update={"offset": 0x60})
                                                     for r in a.registers)})
             if a.name == "task_index" else a for a in kernel.arguments]
    write_emulated_hwh(_design_with(tiny_artifact, arguments=tuple(moved)),
                       bitstream.with_suffix(".hwh"))
    with pytest.raises(DriverError, match=r"task_index at 0x60 \(manifest: 0x40\)"):
        Accelerator.load(tiny_artifact, bitstream)
    assert device.kernel_runs == 0


def test_a_missing_handoff_or_bitstream_is_named(tiny_artifact, tmp_path) -> None:
    _, bitstream = emulate(tiny_artifact, tmp_path)
    bitstream.with_suffix(".hwh").unlink()
    with pytest.raises(DriverError, match=r"no hardware handoff .*edgemoe\.hwh"):
        Accelerator.load(tiny_artifact, bitstream)
    with pytest.raises(DriverError, match=r"no bitstream at .*missing\.bit"):
        Accelerator.load(tiny_artifact, tmp_path / "missing.bit")


def test_a_bitstream_without_the_kernel_is_refused(tiny_artifact, tmp_path) -> None:
    _, bitstream = emulate(tiny_artifact, tmp_path / "design")
    write_emulated_hwh(_design_with(tiny_artifact, name="other_top",
                                    vlnv="edgemoe.org:hls:other_top:1.0"),
                       bitstream.with_suffix(".hwh"))
    with pytest.raises(DriverError, match=r"has no edgemoe\.org:hls:edgemoe_top:1\.0"):
        Accelerator.load(tiny_artifact, bitstream)


@pytest.mark.parametrize(("task", "change", "message"), [
    ("classification", None, r"unknown task 'classification'.*\['segmentation', 'depth'\]"),
    ("depth", lambda x: x[:, :32], r"images must be \(n, 64, 128, 3\).*got \(1, 32, 128, 3\)"),
    ("depth", lambda x: x.astype(np.float32), "images must be uint8, got float32"),
    ("depth", lambda x: np.repeat(x, 5, axis=0), "1 to 4 images per run, got 5"),
])
def test_bad_input_is_refused_before_the_kernel_starts(board, images, task, change,
                                                       message) -> None:
    device, accelerator = board
    device.bus_log = []
    with pytest.raises(ValueError, match=message):
        accelerator.run(change(images[:1]) if change else images[:1], task)
    assert device.bus_log == [] and device.kernel_runs == 0


def test_a_weights_mirror_that_is_not_the_weight_pack_is_refused(board, images) -> None:
    """The kernel reads every other weight strip through its second weights port: started
    with that port on another buffer, the emulated kernel refuses to compute."""
    device, accelerator = board
    accelerator.run(images[:1], "depth")
    mirror = next(a for a in accelerator.manifest.kernel.arguments
                  if a.name == "weights_mirror")
    other = device.allocate((accelerator.manifest.weights.bytes,), np.uint8)
    address = other.device_address
    accelerator.kernel.write(mirror.offset, address & 0xFFFF_FFFF)
    accelerator.kernel.write(mirror.offset + 4, address >> 32)
    with pytest.raises(MemoryError, match=r"weights_mirror .* does not hold the weight pack"):
        device.start_kernel()
