"""Artifact folders: ``manifest.json`` (``sim.manifest``), ``weights.bin``, ``heads.npz``,
``vectors/`` and the ONNX graphs, read as hostile input.

``Artifact(root)`` validates the manifest and then every file it lists before anything else
happens, and every later read goes through the manifest's entry for the file again: the
path must stay inside the folder (no symlink leading out), and the bytes must have the
size and SHA-256 the manifest states, so a truncated, swapped or flipped file is named
instead of being used.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

import numpy as np

from .fixed_array import FixedArray
from .heads import KERNEL_SIZES, HeadLayer, HeadOp
from .manifest import MANIFEST, FileEntry, Manifest, ManifestError
from .network import tokens_name
from .onnx_graph import GraphError, can_check, check_graph
from .weight_pack import PackError, from_bytes, unpack

MAX_MANIFEST_BYTES = 64 << 20


class ArtifactError(ValueError):
    """An artifact that is missing, corrupt, inconsistent, or of another version."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Artifact:
    """An exported artifact folder, checked as it is read."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ArtifactError(f"{self.root} is not an artifact folder (export one with "
                                "`edgemoe export`)")
        path = self.root / MANIFEST
        if not path.is_file():
            raise ArtifactError(f"{self.root} is not an artifact: no {MANIFEST} (export one "
                                "with `edgemoe export`)")
        self._confined(path, MANIFEST)
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ArtifactError(f"{path} is {path.stat().st_size} bytes, more than any "
                                "manifest edgemoe writes")
        text = path.read_bytes()
        #: the manifest file's SHA-256: the artifact's identity, whatever folder it is in
        self.manifest_sha256 = sha256_of(text)
        self._manifest_bytes = text
        try:
            self.manifest = Manifest.from_json(text, str(path))
        except ManifestError as err:
            raise ArtifactError(str(err)) from None
        for entry in self.manifest.files():
            self.read(entry)
        if can_check():
            config = self.manifest.config
            for task in self.manifest.onnx:
                try:
                    check_graph(self.onnx_model(task), f"model_{task}.onnx",
                                (3, config.image_height, config.image_width))
                except GraphError as err:
                    raise ArtifactError(f"{self.root}/{err}") from None

    def _confined(self, path: Path, relative: str) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise ArtifactError(f"{relative} in {self.root} leads outside the artifact "
                                f"(to {resolved})")
        return resolved

    def path(self, entry: FileEntry) -> Path:
        """The file of ``entry``, inside the artifact and a regular file."""
        path = self._confined(self.root / entry.file, entry.file)
        if not path.is_file():
            raise ArtifactError(f"{self.root / entry.file} is missing")
        return path

    def read(self, entry: FileEntry) -> bytes:
        """The bytes of ``entry``'s file, checked against its size and SHA-256."""
        path = self.path(entry)
        size = path.stat().st_size
        if size != entry.bytes:
            raise ArtifactError(f"{self.root / entry.file} has {size} bytes, the manifest says "
                                f"{entry.bytes}: truncated or from another export")
        data = path.read_bytes()
        digest = sha256_of(data)
        if digest != entry.sha256:
            raise ArtifactError(f"{self.root / entry.file} is corrupt or does not belong to "
                                f"this manifest: SHA-256 {digest[:16]}..., expected "
                                f"{entry.sha256[:16]}...")
        return data

    def contents(self) -> dict[str, bytes]:
        """The manifest and every file it lists, each checked, by relative path: all a copy
        of the artifact needs (a bundle, a worker on another machine)."""
        files = {MANIFEST: self._manifest_bytes}  # the bytes that were checked
        files.update((entry.file, self.read(entry)) for entry in self.manifest.files())
        return files

    def weight_bytes(self) -> bytes:
        return self.read(self.manifest.weights)

    def weights(self) -> dict[str, FixedArray]:
        try:
            return unpack(self.weight_bytes(), self.manifest.tensors)
        except PackError as err:
            raise ArtifactError(f"weights.bin does not match the manifest: {err}") from None

    def heads(self) -> tuple[dict[str, tuple[HeadLayer, ...]], dict[str, np.ndarray]]:
        """Each task's head layers and the float32 arrays they name, shapes checked."""
        section = self.manifest.heads
        data = self.read(section)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if any(i.compress_type != zipfile.ZIP_STORED for i in archive.infolist()):
                    raise ArtifactError("heads.npz has compressed members; export writes them "
                                        "stored")
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
            raise ArtifactError(f"heads.npz cannot be read: {err}") from None
        channels = {task: self._head_channels(task, layers, arrays)
                    for task, layers in section.layers.items()}
        config = self.manifest.config
        for task, out in channels.items():
            if out != config.outputs(task):
                raise ArtifactError(f"heads.{task} ends in {out} channels, the task needs "
                                    f"{config.outputs(task)}")

        return dict(section.layers), arrays

    def _head_channels(self, task: str, layers: tuple[HeadLayer, ...],
                       arrays: dict[str, np.ndarray]) -> int:
        """The output channels of a head whose arrays all exist and chain from the model's
        dim."""
        channels = self.manifest.config.dim
        for index, layer in enumerate(layers):
            if layer.weight is None or layer.bias is None:
                continue
            where = f"heads.{task}.{index} ({layer.op.value})"
            weight, bias = arrays.get(layer.weight), arrays.get(layer.bias)
            if weight is None or bias is None:
                raise ArtifactError(f"{where}: heads.npz lacks {layer.weight} or {layer.bias}")
            transposed = layer.op == HeadOp.CONV_TRANSPOSE2X2
            kernel = KERNEL_SIZES[layer.op]
            inputs, outputs = (weight.shape[:2] if transposed else weight.shape[1::-1]) \
                if weight.ndim == 4 else (None, None)
            if (weight.dtype != np.float32 or bias.dtype != np.float32 or weight.ndim != 4
                    or weight.shape[2:] != kernel or inputs != channels
                    or bias.shape != (outputs,)):
                raise ArtifactError(f"{where}: arrays {weight.dtype} {weight.shape} and "
                                    f"{bias.dtype} {bias.shape} do not take {channels} "
                                    "channels in")
            channels = outputs
        return channels

    def onnx_model(self, task: str) -> bytes | None:
        """The task's float ONNX graph, checked, or None when the export made none."""
        entry = self.manifest.onnx.get(task)
        return None if entry is None else self.read(entry)

    def vector_images(self) -> np.ndarray:
        section = self.manifest.vectors.images
        return np.frombuffer(self.read(section), np.uint8).reshape(section.shape)

    def golden(self, task: str) -> dict[str, FixedArray]:
        """The simulator's per-layer outputs for the vector images, under their names."""
        return golden_arrays(self.manifest, task, self.read)

    def golden_tokens(self, task: str) -> np.ndarray:
        """The final tokens of each vector image for ``task``: (images, tokens, dim)."""
        config = self.manifest.config
        name = tokens_name(config)
        entry = self.manifest.vectors.outputs[task][name]
        values = from_bytes(self.read(entry), entry.format, entry.shape, name).raw
        return values.reshape(len(values), config.tokens, config.dim)


def golden_arrays(manifest: Manifest, task: str,
                  read: Callable[[FileEntry], bytes]) -> dict[str, FixedArray]:
    """``task``'s golden per-layer outputs, each file's bytes from ``read`` (an artifact's
    checked read, or the checked contents held in memory)."""
    out = {}
    for name, entry in manifest.vectors.outputs[task].items():
        try:
            out[name] = from_bytes(read(entry), entry.format, entry.shape, name)
        except PackError as err:
            raise ArtifactError(f"vectors/{task}/{name}.bin: {err}") from None
    return out


def write_files(contents: Mapping[str, bytes], folder: Path) -> None:
    """Each of ``contents`` (relative path -> bytes) under ``folder``; a path leading out is
    refused."""
    for name, data in contents.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ArtifactError(f"{name!r} is not a path inside a folder")
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def read_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path (what ``write_files`` writes back)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def write_artifact(contents: Mapping[str, bytes], folder: Path) -> Artifact:
    """Write ``contents`` (``Artifact.contents()``) into the empty ``folder`` and read the
    copy back, checked as any artifact is."""
    write_files(contents, folder)
    return Artifact(folder)
