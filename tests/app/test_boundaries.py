"""Imports go one way, app <- workers -> models: the API never loads torch, models/ never loads the service."""

from __future__ import annotations

import subprocess
import sys

from tests.stack import REPO


def _loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_api_process_never_imports_torch() -> None:
    loaded = _loaded_after("from app.main import create_app; import app.cli; create_app()")
    assert not loaded & {"torch", "torchvision", "models", "workers"}


def test_models_know_nothing_of_http_celery_or_redis() -> None:
    loaded = _loaded_after("import models.style, models.forecast, models.waves, models.vgg, models.dream")
    assert not loaded & {"fastapi", "starlette", "celery", "kombu", "redis", "app", "workers"}
