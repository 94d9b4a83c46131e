"""Artifacts: ``manifest.json``, ``weights.bin``, ``heads.npz`` and ``vectors/``.

The manifest is the contract between all parts: model shape, tasks, formats, tensor
offsets in ``weights.bin``, the kernel's arguments and registers, checksums. Everything
downstream reads it and re-derives nothing. Loading checks the format version and every
checksum, and refuses with a message that names the problem.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .config import AcceleratorConfig, ModelConfig
from .fixed_array import FixedArray
from .quant import QuantSpec
from .weight_pack import PackError, TensorEntry, unpack

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class ArtifactError(ValueError):
    """An artifact that is missing, corrupt, or of another version."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    data: dict[str, Any]

    @cached_property
    def config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.data["model"])

    @cached_property
    def accelerator(self) -> AcceleratorConfig:
        return AcceleratorConfig.from_dict(self.data["accelerator"])

    @cached_property
    def spec(self) -> QuantSpec:
        return QuantSpec.from_dict(self.data["quantization"])

    @cached_property
    def tensors(self) -> dict[str, TensorEntry]:
        return {name: TensorEntry.from_dict(entry)
                for name, entry in self.data["weights"]["tensors"].items()}

    @property
    def tasks(self) -> list[str]:
        return list(self.data["tasks"])

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2)

    @classmethod
    def from_json(cls, text: str, source: str = "manifest") -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ArtifactError(f"{source} is not valid JSON: {err}") from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION:
            raise ArtifactError(f"{source} has format version {version!r}; this edgemoe reads "
                                f"version {FORMAT_VERSION}: export the artifact again")
        manifest = cls(data)
        try:
            manifest.config, manifest.accelerator, manifest.spec, manifest.tensors  # noqa: B018
        except (KeyError, TypeError, ValueError) as err:
            raise ArtifactError(f"{source} is incomplete or inconsistent: {err}") from None
        return manifest


class Artifact:
    """An exported artifact folder, checked as it is read."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise ArtifactError(f"{self.root} is not an artifact: no {MANIFEST} (export one "
                                "with `edgemoe export`)")
        self.manifest = Manifest.from_json(path.read_text(), str(path))

    def _checked(self, section: dict[str, Any]) -> bytes:
        path = self.root / section["file"]
        if not path.is_file():
            raise ArtifactError(f"{path} is missing")
        data = path.read_bytes()
        if len(data) != section["bytes"]:
            raise ArtifactError(f"{path} has {len(data)} bytes, the manifest says "
                                f"{section['bytes']}: truncated or from another export")
        digest = sha256_of(data)
        if digest != section["sha256"]:
            raise ArtifactError(f"{path} is corrupt or does not belong to this manifest: "
                                f"SHA-256 {digest[:16]}..., expected {section['sha256'][:16]}...")
        return data

    def weights(self) -> dict[str, FixedArray]:
        data = self._checked(self.manifest.data["weights"])
        try:
            return unpack(data, self.manifest.tensors)
        except PackError as err:
            raise ArtifactError(f"weights.bin does not match the manifest: {err}") from None

    def heads(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, np.ndarray]]:
        section = self.manifest.data["heads"]
        data = self._checked(section)
        import io

        with np.load(io.BytesIO(data)) as arrays:
            return section["layers"], {key: arrays[key] for key in arrays.files}

    def vector_images(self) -> np.ndarray:
        section = self.manifest.data["vectors"]["images"]
        data = self._checked(section)
        return np.frombuffer(data, np.uint8).reshape(section["shape"])

    def golden(self, task: str) -> dict[str, FixedArray]:
        """The simulator's per-layer outputs for the vector images, under their names."""
        entries = self.manifest.data["vectors"]["outputs"][task]
        out = {}
        for name, entry in entries.items():
            data = self._checked(entry)
            out[name] = unpack(data, {name: TensorEntry(0, tuple(entry["shape"]),
                                                         TensorEntry.from_dict(entry).fmt)})[name]
        return out
