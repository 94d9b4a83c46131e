"""The published models (``published_models.py``) for this folder's tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def published() -> ModuleType:
    """M3ViT's and Edge-MoE's layouts and float64 forwards, written independently of
    edgemoe's model."""
    path = Path(__file__).with_name("published_models.py")
    spec = importlib.util.spec_from_file_location("published_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
