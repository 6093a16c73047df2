import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netns import require_namespaces  # noqa: E402
from netc.sandbox import Sandbox  # noqa: E402


@pytest.fixture
def sandbox():
    require_namespaces()
    box = Sandbox()
    try:
        yield box
    finally:
        box.close()
