"""The suite's own guard: nothing in the tests can reach beyond this machine."""

from __future__ import annotations

import socket

import pytest

from aiconfig import services
from aiconfig.services import calls
from tests.fake_provider import FakeProvider


@pytest.mark.parametrize("target", [("93.184.216.34", 443), ("api.openai.com", 443)])
def test_connections_beyond_loopback_are_refused(target: tuple[str, int]) -> None:
    with pytest.raises(OSError, match="must not reach the network beyond loopback"):
        socket.create_connection(target, timeout=1)


@pytest.mark.django_db
def test_a_provider_left_on_its_real_url_fails_without_a_request(wired: FakeProvider) -> None:
    services.update_provider(name="openai", base_url="https://api.openai.com/v1")
    with pytest.raises(calls.TaskFailed) as excinfo:
        calls.generate_text(prompt="hi")
    assert excinfo.value.attempts[0].error_kind == "provider_error"
    assert wired.requests == []
