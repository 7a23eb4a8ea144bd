"""Ingest test helpers: the `requires_privacy` marker fails (never skips) while seglib.privacy is incomplete."""

from __future__ import annotations

import importlib

import pytest

PRIVACY_MODULES = (
    "seglib.privacy.keys",
    "seglib.privacy.pseudonymize",
    "seglib.privacy.minimise",
    "seglib.privacy.consent",
    "seglib.privacy.identity",
    "seglib.privacy.text",
    "seglib.privacy.quarantine",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_privacy: needs the seglib.privacy functions (fails if missing)")


@pytest.fixture(autouse=True)
def _privacy_present(request):
    if request.node.get_closest_marker("requires_privacy") is None:
        return
    missing = []
    for name in PRIVACY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    if missing:
        pytest.fail("seglib.privacy is not complete; missing: " + ", ".join(missing), pytrace=False)
