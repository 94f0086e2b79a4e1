"""The fixtures every real-engine test uses: each test runs once per test-bed engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bed import BedEngine, Scratch, bed_engines, scratch

ENGINES = bed_engines()


@pytest.fixture(params=ENGINES, ids=[e.name for e in ENGINES])
def bed(request: pytest.FixtureRequest) -> BedEngine:
    engine: BedEngine = request.param
    return engine


@pytest.fixture
def box(bed: BedEngine) -> Iterator[Scratch]:
    with scratch(bed) as s:
        yield s
