from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bed import BedEngine
from tests.bed_fixtures import bed, box
from tests.deployment import Project, new_project

__all__ = ["bed", "box", "project"]


@pytest.fixture
def project(bed: BedEngine, tmp_path: Path) -> Iterator[Project]:
    """One app on the engine under test, removed afterwards."""
    p = new_project(bed, tmp_path)
    yield p
    p.cleanup()
