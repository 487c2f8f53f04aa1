"""The settings of the CoT listeners and the MQTT source, from TOML: typed and ranged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deconflict.errors import InvalidRequest
from deconflict.service.config import load_settings


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_settings(path)


def test_defaults_are_off(tmp_path: Path) -> None:
    s = load(tmp_path, "")
    assert (s.mqtt_url, s.cot_tcp_port, s.cot_udp_port) == ("", 0, 0)
    assert s.cot_host == "127.0.0.1" and s.cot_alert_type == "b-a-g"


def test_ports_and_url_are_read(tmp_path: Path) -> None:
    s = load(tmp_path, 'cot_tcp_port = 8087\ncot_udp_port = 0\nmqtt_url = "mqtt://h:1883"\n')
    assert (s.cot_tcp_port, s.cot_udp_port, s.mqtt_url) == (8087, 0, "mqtt://h:1883")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cot_tcp_port = 70000", "cot_tcp_port must be from 0 (off) to 65535"),
        ("cot_udp_port = -1", "cot_udp_port must be from 0"),
        ("cot_tcp_port = 1.5", "cot_tcp_port must be a whole number"),
        ("mqtt_url = 5", "mqtt_url must be a string"),
        ('mqtt_url = "http://x"', "mqtt_url must start with mqtt://"),
        ("cot_timeout_s = 0", "cot_timeout_s must be above 0"),
        ("cot_max_connections = 0", "cot_max_connections must be above 0"),
        ("cot_host = true", "cot_host must be a string"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(words)):
        load(tmp_path, text)
