"""The public names and signatures of the documented modules only change on purpose (tests/api_surface.py)."""

from __future__ import annotations

import json

from api_surface import RECORD, diff, surface


def test_public_api_matches_the_record() -> None:
    changes = diff(json.loads(RECORD.read_text()), surface())
    assert not changes, (
        "the public API of the documented modules changed:\n  " + "\n  ".join(changes)
        + "\nIf this is intended, re-record it with `python tests/api_surface.py --update` and commit "
          "tests/data/api_surface.json with the change."
    )


def test_the_record_covers_the_lithops_3_user_modules() -> None:
    recorded = json.loads(RECORD.read_text())
    for module, name in [("lithops", "FunctionExecutor"), ("lithops.utils", "setup_lithops_logger"),
                         ("lithops.concurrent.futures", "ProcessPoolExecutor"),
                         ("lithops.util.joblib", "register_lithops"), ("lithops.storage.cloud_proxy", "cloud_open"),
                         ("lithops.version", "__version__")]:
        assert name in recorded[module]
