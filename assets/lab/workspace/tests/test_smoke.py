"""Smoke test of the staging workspace, run before and after each change."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_compose_file_present():
    assert (ROOT / "docker-compose.staging.yml").is_file()
