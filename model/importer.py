"""``edgemoe import``: an M3ViT checkpoint or Edge-MoE's weight dumps as a run folder.

The run folder is what ``edgemoe train`` leaves (``checkpoint.pt`` and ``config.yaml``),
so every later command takes it alike. Every tensor is checked against the config's shape
before anything is written, and nothing already in the folder is overwritten.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch
import yaml

from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.config_file import read_document

from . import edge_moe_layout, m3vit_layout
from .checkpoint import save_checkpoint
from .m3vit import M3ViT
from .placement import ImportFailure, place
from .train import CHECKPOINT_NAME, CONFIG_NAME

LAYOUTS = ("m3vit", "edge-moe")
#: The config each layout's published model has.
DEFAULT_CONFIGS = {"m3vit": "m3vit-tiny-cityscapes", "edge-moe": "m3vit-s-edge-moe"}


def import_model(source: Path, layout: str, document: dict[str, Any]) -> tuple[M3ViT, list[str]]:
    """The config document's model with ``source``'s weights, and notes for the user."""
    config = read_document(document, "the config").model
    # what no source gives (Edge-MoE's heads) starts as train would; the caller's random
    # state stays as it was
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = M3ViT(config)
    if layout == "m3vit":
        tensors = m3vit_layout.read_checkpoint(source)
        tasks = m3vit_layout.checkpoint_tasks(tensors)
        placed = m3vit_layout.placements(config, tasks, m3vit_layout.shared_gate(tensors))
        state = place(model, placed, lambda name, shape: tensors.get(name), str(source))
        unmapped = m3vit_layout.left_over(tensors, placed, tasks, config)
        if unmapped:
            raise ImportFailure(f"{source} holds {len(unmapped)} tensors this importer has no "
                                f"place for in config {config.name!r}, which would change "
                                f"the model: {', '.join(unmapped[:3])}")
        notes = []
    elif layout == "edge-moe":
        if not source.is_dir():
            raise ImportFailure(f"{source} is not a folder of Edge-MoE weight dumps "
                                f"(*{edge_moe_layout.SUFFIX})")
        placed = edge_moe_layout.placements(config)
        state = place(model, placed, partial(edge_moe_layout.read_dump, source), str(source))
        state["cls_token"] = torch.zeros_like(state["cls_token"])  # in position row 0
        notes = ["Edge-MoE's dumps hold no task heads: the heads are untrained; the "
                 "accelerator's tokens are Edge-MoE's model's"]
    else:
        raise ImportFailure(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    model.load_state_dict(state)
    read = len({p.source for p in placed})
    return model.eval(), [f"{read} tensors read from {source}", *notes]


def import_run(source: Path, layout: str, document: dict[str, Any],
               out_dir: Path) -> tuple[Path, list[str]]:
    """Import into ``out_dir`` (checkpoint.pt and config.yaml), refusing to overwrite."""
    written = [out_dir / CHECKPOINT_NAME, out_dir / CONFIG_NAME]
    present = [path for path in written if path.exists()]
    if present:
        raise ImportFailure(f"{present[0]} exists; import into another folder (-o)")
    model, notes = import_model(source, layout, document)
    made_folder = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    try:
        with atomic_path(written[1]) as scratch:
            scratch.write_text(yaml.safe_dump(document, sort_keys=False))
        created.append(written[1])
        save_checkpoint(written[0], model, document,
                        {"epoch": 0, "history": [], "seconds": 0.0,
                         "imported": {"layout": layout, "source": source.name}})
    except BaseException:  # leave nothing behind but what was there before
        for path in created:
            path.unlink(missing_ok=True)
        if made_folder and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    return written[0], notes
