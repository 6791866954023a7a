"""Storage tests run against a fresh, fully migrated in-memory database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlite_utils

from storage.database import open_database


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    database = open_database(":memory:")
    yield database
    database.close()
