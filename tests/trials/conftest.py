"""Setup for the trial-template and example tests (helpers live in ``trials_helpers.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # running pytest without installing the package
    sys.path.insert(0, str(REPO))
