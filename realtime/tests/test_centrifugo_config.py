"""Centrifugo's config: rendered from the template and the settings, accepted by checkconfig."""

import io
import json
import stat

import pytest
from django.core.management import call_command

from ops.centrifugo import config_check, config_render, node_overrides


def test_config_has_the_settings_secrets_and_only_the_site_origins(settings):
    settings.SITE_ORIGINS = ["https://chat.example.com"]
    config = config_render()
    assert config["client"]["allowed_origins"] == ["https://chat.example.com"]
    assert config["client"]["token"]["hmac_secret_key"] == settings.CENTRIFUGO_TOKEN_HMAC_SECRET
    assert config["http_api"]["key"] == settings.CENTRIFUGO_HTTP_API_KEY
    # Clients on one port (nginx proxies it); admin, server API and metrics on another, loopback.
    assert config["http_server"] == {
        "address": "127.0.0.1",
        "port": settings.CENTRIFUGO_PORT,
        "internal_address": "127.0.0.1",
        "internal_port": str(settings.CENTRIFUGO_INTERNAL_PORT),
    }
    assert not config["admin"].get("external") and not config["http_api"].get("external")
    assert config["admin"]["enabled"] and config["admin"]["password"] == settings.CENTRIFUGO_ADMIN_PASSWORD
    assert config["health"]["enabled"] and config["prometheus"]["enabled"]
    assert config["debug"]["enabled"] is False  # Go's profiler: the bench's own nodes only
    namespaces = {namespace["name"]: namespace for namespace in config["channel"]["namespaces"]}
    personal, chat, typing = namespaces["personal"], namespaces["chat"], namespaces["typing"]
    assert personal["allow_user_limited_channels"]
    # Typing is never stored: no history; its viewers see each other (presence, join/leave).
    assert "history_size" not in typing and typing["presence"] and typing["join_leave"]
    assert personal["history_size"] > 0 and personal["history_ttl"] and personal["force_recovery"]
    # A chat's channel: no user limit, so only a subscription token lets anyone in.
    assert chat["name"] == "chat" and not chat.get("allow_user_limited_channels")
    assert not chat.get("allow_subscribe_for_client") and not chat.get("allow_publish_for_client")
    assert chat["history_size"] > 0 and chat["force_recovery"]
    [consumer] = config["consumers"]
    assert consumer["type"] == "postgresql"
    assert consumer["postgresql"]["outbox_table_name"] == "centrifugo_outbox"
    assert consumer["postgresql"]["partition_notification_channel"] == "centrifugo_outbox"


def test_only_the_first_node_of_a_machine_is_woken_to_read_the_outbox(tmp_path):
    """The others poll it (ops.centrifugo.outbox_overrides); checkconfig accepts both."""
    channels = []
    for node in range(2):
        path = tmp_path / f"node{node}.json"
        path.write_text(json.dumps(config_render(**node_overrides(node, nodes=2))))
        config_check(path)
        [consumer] = json.loads(path.read_text())["consumers"]
        channels.append(consumer["postgresql"]["partition_notification_channel"])
    assert channels == ["centrifugo_outbox", ""]


@pytest.mark.parametrize("engine", ["memory", "redis"])
def test_checkconfig_accepts_both_engines(engine, tmp_path, settings):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config_render(engine=engine)))
    config_check(path)
    assert json.loads(path.read_text())["engine"]["type"] == engine


def test_checkconfig_refuses_a_broken_config(tmp_path):
    config = config_render()
    del config["channel"]["namespaces"][0]["history_ttl"]  # history needs both size and TTL
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="history"):
        config_check(path)


def test_command_writes_an_owner_only_file(tmp_path):
    path = tmp_path / "centrifugo" / "config.json"
    call_command("centrifugo_config", output=path, stdout=io.StringIO())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["consumers"][0]["enabled"]


def test_a_loopback_site_allows_both_of_its_names():
    """A page opened at localhost:8800 and one at 127.0.0.1:8800 are two origins."""
    from messenger.settings.base import _site_origins

    assert _site_origins("http://127.0.0.1:8800") == ["http://127.0.0.1:8800", "http://localhost:8800"]
    assert _site_origins("http://localhost:8800/") == ["http://localhost:8800", "http://127.0.0.1:8800"]
    assert _site_origins("https://chat.example.com") == ["https://chat.example.com"]


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="memory or redis"):
        config_render(engine="nats")


@pytest.mark.parametrize(
    "setting",
    ["CENTRIFUGO_TOKEN_HMAC_SECRET", "CENTRIFUGO_HTTP_API_KEY", "CENTRIFUGO_ADMIN_PASSWORD", "CENTRIFUGO_ADMIN_SECRET"],
)
def test_an_empty_secret_is_refused(settings, setting):
    """Centrifugo would start with it and leave its admin UI or API without a password."""
    setattr(settings, setting, "")
    with pytest.raises(ValueError, match=setting):
        config_render()


def test_limits_per_user_per_node_and_within_the_descriptor_limit(settings, tmp_path):
    from ops.centrifugo import RESERVED_FILES
    from ops.serving import max_open_files

    settings.CENTRIFUGO_CONNECTION_LIMIT = 0
    client = config_render()["client"]
    # A node refuses a client cleanly before it runs out of descriptors (one per WebSocket).
    assert client["connection_limit"] == max_open_files() - RESERVED_FILES
    assert client["user_connection_limit"] == settings.CENTRIFUGO_USER_CONNECTION_LIMIT > 0
    assert client["connection_rate_limit"] == settings.CENTRIFUGO_CONNECTION_RATE_LIMIT
    assert client["channel_limit"] == settings.CENTRIFUGO_CHANNEL_LIMIT
    settings.CENTRIFUGO_CONNECTION_LIMIT = 50_000
    assert config_render()["client"]["connection_limit"] == 50_000
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config_render()))
    config_check(path)
