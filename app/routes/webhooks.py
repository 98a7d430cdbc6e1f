"""GET /v1/webhooks/secret: the secret that signs this deployment's webhooks."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.deps import CallerDep, SettingsDep, StoreDep
from app.webhooks import deployment_secret

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookSecret(BaseModel):
    secret: str = Field(description="`whsec_<base64>`: verify `webhook-signature` with the bytes after `whsec_`.")


@router.get("/secret", response_model=WebhookSecret)
def read_webhook_secret(settings: SettingsDep, store: StoreDep, owner: CallerDep) -> WebhookSecret:
    """The signing secret of this deployment's webhooks (Standard Webhooks), for holders of a key."""
    return WebhookSecret(secret=deployment_secret(settings, store.r))
