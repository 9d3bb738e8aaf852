"""Fixtures for the synonym tests: the fake chat server, the OpenAI environment, a closed port."""

from __future__ import annotations

import socket

import pytest
from synonym_fakes import FakeChatServer


@pytest.fixture
def chat_server():
    server = FakeChatServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def openai_env(monkeypatch, chat_server, tmp_path):
    from synonym_fakes import SECRET_KEY

    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server.base_url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return chat_server


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
