from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def rtl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units and vector_kernel at the int16 preset's default formats."""
    from edgemoe.hls.rtl.generate import generate_rtl

    return generate_rtl(tmp_path_factory.mktemp("rtl") / "units")
