"""A batch of images through the simulator equals each image alone, bit for bit: tokens,
every traced layer and every expert queue."""

from __future__ import annotations

import numpy as np
import pytest

from edgemoe.model.data.datasets import SceneDataset
from edgemoe.model.hardware_weights import hardware_weights
from edgemoe.sim.accelerator import Accelerator
from edgemoe.sim.config import AcceleratorConfig
from edgemoe.sim.quant import calibrate, quantize_weights


def assert_batch_matches_singles(model, preset: str, accelerator: AcceleratorConfig,
                                 workers: int) -> None:
    weights = hardware_weights(model)
    images = SceneDataset("val", 16, 64, 128).images.numpy()
    spec = calibrate(model.config, weights, images[8:12], preset)
    engine = Accelerator(model.config, accelerator, spec,
                         quantize_weights(weights, spec, model.config), workers=workers)
    batch = list(images[:5])
    for task in model.config.tasks:
        together = engine.run_batch(batch, task, trace=True)
        assert len(together) == len(batch)
        for image, result in zip(batch, together, strict=True):
            alone = engine.run(image, task, trace=True)
            assert result.tokens.fmt == alone.tokens.fmt
            assert np.array_equal(result.tokens.raw, alone.tokens.raw)
            assert result.trace.keys() == alone.trace.keys()
            for name, value in alone.trace.items():
                assert value.fmt == result.trace[name].fmt, name
                assert np.array_equal(value.raw, result.trace[name].raw), name
            assert result.queues.keys() == alone.queues.keys()
            for layer, queues in alone.queues.items():
                assert [q.tolist() for q in queues] == [q.tolist()
                                                        for q in result.queues[layer]], layer


@pytest.mark.parametrize("workers", [1, 2], ids=["stacked", "two-threads"])
@pytest.mark.parametrize("preset", ["int16", "edge-moe"])
def test_a_batch_equals_each_image_alone(tiny_run, preset: str, workers: int) -> None:
    """All five images stacked in one thread, or shared out (3 + 2) between two."""
    from edgemoe.model.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
    assert_batch_matches_singles(model, preset, AcceleratorConfig(), workers)


def test_a_batch_equals_each_image_alone_with_other_semantics(model_variant) -> None:
    """Per-task final norms, the renormalized gate, attention two rows at a time."""
    model = model_variant(final_norm="per-task", gate="renormalized-top-k")
    assert_batch_matches_singles(model, "int16", AcceleratorConfig(attention_parallel=2), 1)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_whole_number(tiny_run, workers) -> None:
    from edgemoe.model.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
    weights = hardware_weights(model)
    spec = calibrate(model.config, weights, SceneDataset("val", 16, 64, 128).images.numpy()[:2],
                     "int16")
    with pytest.raises(ValueError, match="workers"):
        Accelerator(model.config, AcceleratorConfig(), spec,
                    quantize_weights(weights, spec, model.config), workers=workers)


def test_an_empty_batch_is_refused(tiny_run) -> None:
    from edgemoe.model.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
    weights = hardware_weights(model)
    images = SceneDataset("val", 16, 64, 128).images.numpy()
    spec = calibrate(model.config, weights, images[:2], "int16")
    engine = Accelerator(model.config, AcceleratorConfig(), spec,
                         quantize_weights(weights, spec, model.config))
    with pytest.raises(ValueError, match="at least one image"):
        engine.run_batch([], model.config.tasks[0])


def test_the_simulator_holds_no_python_integers(tiny_run, monkeypatch) -> None:
    """At the edge-moe preset (32x32-bit products, 70-bit sums) every value on the path is
    an int64 array: no cast falls back to Python ints and no array is made of them."""
    from edgemoe.model.checkpoint import load_checkpoint
    from edgemoe.sim import fixed_array, wide_fixed

    model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
    weights = hardware_weights(model)
    images = SceneDataset("val", 16, 64, 128).images.numpy()
    spec = calibrate(model.config, weights, images[8:12], "edge-moe")
    engine = Accelerator(model.config, AcceleratorConfig(), spec,
                         quantize_weights(weights, spec, model.config), workers=1)
    task = model.config.tasks[0]
    engine.run(images[0], task)  # constants are made (and cached) on the first run
    made, fallbacks = [], []
    as_dtype, in_int64 = fixed_array._as_dtype, wide_fixed.WideFixed._cast_in_int64

    def spy_dtype(values, dtype):
        if np.dtype(dtype).kind == "O":
            made.append(np.shape(values))
        return as_dtype(values, dtype)

    def spy_cast(self, dst):
        raw = in_int64(self, dst)
        if raw is None:
            fallbacks.append((self.fmt, dst))
        return raw

    for module in (fixed_array, wide_fixed):
        monkeypatch.setattr(module, "_as_dtype", spy_dtype)
    monkeypatch.setattr(wide_fixed.WideFixed, "_cast_in_int64", spy_cast)
    engine.run_batch(list(images[:3]), task, trace=True)
    assert made == [] and fallbacks == []
