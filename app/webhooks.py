"""Webhooks: the Standard Webhooks signature, the deployment's secret, and the guard against SSRF.

Signing (https://www.standardwebhooks.com): each delivery carries `webhook-id`, `webhook-timestamp` (Unix
seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
base64-decoded part of the secret after `whsec_`.

The secret is `STYLEWAVE_WEBHOOK_SECRET` when set. Otherwise the first process that needs one generates 32
random bytes and stores them in Redis (`SET NX`), so that every API and worker process on that Redis signs
with the same secret, and it survives restarts as long as Redis keeps its data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from app.queue import TASK_QUEUES, WEBHOOK_TASK
from app.schemas import Job
from app.settings import Settings

SECRET_KEY = "sw:webhook:secret"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def deployment_secret(settings: Settings, redis_client: Any) -> str:
    """The signing secret: from the settings, or generated once and shared through Redis."""
    if settings.webhook_secret:
        return settings.webhook_secret
    redis_client.set(SECRET_KEY, new_secret(), nx=True)
    return str(redis_client.get(SECRET_KEY).decode())


class UnsafeUrl(ValueError):
    """A webhook URL that must not be called: wrong scheme, no host, or a non-public address."""


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None


def resolve_public(url: str, allow_private: bool) -> list[str]:
    """The addresses `url`'s host resolves to, all of them public; UnsafeUrl otherwise.

    Checked at submission and again right before each delivery, and the delivery connects to an address
    from this list, so a DNS answer that changes in between (rebinding) cannot aim it at an inside host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("must be an http or https URL")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise UnsafeUrl(f"the host {parts.hostname} cannot be resolved ({exc})") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            kind = _forbidden(ipaddress.ip_address(address.split("%")[0]))
            if kind:
                raise UnsafeUrl(f"{parts.hostname} resolves to a {kind} address ({address}); refused")
    return addresses


def queue_delivery(celery: Any) -> Callable[[Job, str], None]:
    """A store notifier that queues one signed delivery (the record plus `event`) on the `webhooks` queue."""

    def notify(job: Job, event: str) -> None:
        body = json.dumps({**job.model_dump(mode="json"), "event": event})
        msg_id = "msg_" + secrets.token_hex(12)
        celery.send_task(WEBHOOK_TASK, args=[job.id, event, body, msg_id], queue=TASK_QUEUES[WEBHOOK_TASK])

    return notify
