"""Webhook signing (Standard Webhooks) and the SSRF guard, without a network."""

from __future__ import annotations

import pytest

from app.webhooks import UnsafeUrl, new_secret, resolve_public, sign


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The example of the Standard Webhooks specification and its reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_differ_and_decode_to_32_bytes() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith("whsec_")
    assert sign(a, "m", 1, b"x") != sign(b, "m", 1, b"x")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]:8080/x",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://10.0.0.8/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
    ],
)
def test_inside_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        resolve_public(url, allow_private=False)
    assert resolve_public(url, allow_private=True)  # the guard lifted


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost", "gopher://x"])
def test_other_schemes_and_hostless_urls_are_refused_even_when_allowed(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        resolve_public(url, allow_private=True)


def test_a_public_address_passes() -> None:
    assert resolve_public("https://93.184.216.34:8443/hook", allow_private=False) == ["93.184.216.34"]
