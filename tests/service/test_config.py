"""`deconflict serve --config FILE`: settings from TOML. Every documented name can be set;
what a file does not name keeps its default; an unknown name, a value of the wrong type or
a file that cannot be read is refused with one sentence naming the problem."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from deconflict.errors import InvalidRequest
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.model.clearance import DEFAULT_POLICY, NoticePolicy
from deconflict.model.policy import Policy
from deconflict.service.config import SECTIONS, load_settings
from deconflict.service.core import Settings


def toml_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(InvalidRequest) as caught:
        load_settings(path)
    message = caught.value.message
    assert "\n" not in message and message.endswith("."), message
    assert message.startswith(str(path)), message  # says which file
    return message


def toml_value(value: Any) -> str:
    return repr(value).lower() if isinstance(value, bool) else repr(value)


def test_a_full_file(tmp_path: Path) -> None:
    path = toml_file(
        tmp_path,
        """
max_body_bytes = 1_048_576
message_max_chars = 2000
message_ack_default_s = 1800
message_ack_min_s = 30.0
message_ack_max_s = 86400.0
max_webhooks = 0

[policy]
horizontal_m = 2500.0
vertical_m = 0

[notice]
movement_notice_s = 86400
emergency_notice_s = 3600

[limits]
max_features = 5000
max_buffer_m = 250.5
max_page = 50
default_page = 20
""",
    )
    assert load_settings(path) == Settings(
        policy=Policy(horizontal_m=2500.0, vertical_m=0.0),
        notice=dataclasses.replace(
            DEFAULT_POLICY, movement_notice_s=86400.0, emergency_notice_s=3600.0
        ),
        limits=dataclasses.replace(
            DEFAULT_LIMITS, max_features=5000, max_buffer_m=250.5, max_page=50, default_page=20
        ),
        max_body_bytes=1_048_576,
        message_max_chars=2000,
        message_ack_default_s=1800.0,
        message_ack_min_s=30.0,
        message_ack_max_s=86400.0,
        max_webhooks=0,
    )


def test_every_setting_can_be_set(tmp_path: Path) -> None:
    """Each field of Settings and of its tables, at twice its default."""

    def doubled(cls: type) -> dict[str, Any]:
        return {
            f.name: getattr(cls(), f.name) * 2
            for f in dataclasses.fields(cls)
            if f.name not in SECTIONS
        }

    plain = doubled(Settings)
    tables = {name: doubled(cls) for name, cls in SECTIONS.items()}
    lines = [f"{k} = {toml_value(v)}" for k, v in plain.items()]
    for name, values in tables.items():
        lines += [f"[{name}]", *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    loaded = load_settings(toml_file(tmp_path, "\n".join(lines) + "\n"))
    assert {k: getattr(loaded, k) for k in plain} == plain
    for name, values in tables.items():
        section = getattr(loaded, name)
        assert {k: getattr(section, k) for k in values} == values


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_settings(toml_file(tmp_path, "")) == Settings()
    assert load_settings(toml_file(tmp_path, "# nothing\n[policy]\n")) == Settings()


def test_missing_names_keep_their_defaults(tmp_path: Path) -> None:
    loaded = load_settings(toml_file(tmp_path, "max_webhooks = 2\n[policy]\nvertical_m = 50\n"))
    assert loaded == Settings(policy=Policy(vertical_m=50.0), max_webhooks=2)
    assert loaded.notice == NoticePolicy() and loaded.limits == Limits()
    assert loaded.policy.horizontal_m == Policy().horizontal_m


def test_integers_are_taken_for_seconds_and_metres(tmp_path: Path) -> None:
    loaded = load_settings(toml_file(tmp_path, "[policy]\nhorizontal_m = 500\n"))
    assert loaded.policy.horizontal_m == 500.0 and type(loaded.policy.horizontal_m) is float


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("max_body_byte = 10\n", "'max_body_byte'"),
        ("[limits]\nmax_byts = 10\n", "'max_byts'"),
        ("[policy]\nhorizontal = 10\n", "'horizontal'"),
        ("[notice]\nmovement_s = 10\n", "'movement_s'"),
        ("[policies]\nhorizontal_m = 10\n", "[policies]"),
        ("[limits.extra]\nx = 1\n", "'extra'"),
    ],
)
def test_unknown_names_are_refused(tmp_path: Path, text: str, named: str) -> None:
    message = refusal(toml_file(tmp_path, text))
    assert named in message and "unknown" in message


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    message = refusal(toml_file(tmp_path, "[limits]\nmax_byts = 10\n"))
    assert "[limits]" in message and "max_bytes" in message and "max_features" in message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('max_body_bytes = "big"\n', "max_body_bytes"),
        ("max_webhooks = 2.5\n", "max_webhooks"),
        ("max_webhooks = true\n", "max_webhooks"),
        ("message_ack_default_s = 1979-05-27\n", "message_ack_default_s"),
        ("message_ack_max_s = inf\n", "message_ack_max_s"),
        ("message_max_chars = [1, 2]\n", "message_max_chars"),
        ('[policy]\nhorizontal_m = "far"\n', "horizontal_m"),
        ("[policy]\nvertical_m = true\n", "vertical_m"),
        ('[notice]\nmovement_notice_s = "2 days"\n', "movement_notice_s"),
        ("[notice]\nresponse_window_s = nan\n", "response_window_s"),
        ('[limits]\nmax_bytes = "64M"\n', "max_bytes"),
        ("[limits]\nmax_features = 1.5\n", "max_features"),
        ("policy = 1000\n", "[policy]"),
    ],
)
def test_values_of_the_wrong_type_are_refused(tmp_path: Path, text: str, named: str) -> None:
    assert named in refusal(toml_file(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("max_body_bytes = 0\n", "max_body_bytes"),
        ("max_webhooks = -1\n", "max_webhooks"),
        ("message_max_chars = -5\n", "message_max_chars"),
        ("message_ack_min_s = 7200\n", "message_ack_default_s"),  # above the default of 3600
        ("message_ack_max_s = 60\nmessage_ack_min_s = 10\n", "message_ack_default_s"),
        ("[policy]\nhorizontal_m = 0\n", "horizontal_m"),
        ("[notice]\nactive_grace_s = -1\n", "active_grace_s"),
        ("[limits]\nmax_page = 10\n", "default_page"),  # default_page 100 > max_page
    ],
)
def test_values_out_of_range_are_refused(tmp_path: Path, text: str, named: str) -> None:
    assert named in refusal(toml_file(tmp_path, text))


def test_a_missing_file(tmp_path: Path) -> None:
    message = refusal(tmp_path / "nope.toml")
    assert message == f"{tmp_path / 'nope.toml'} cannot be read (No such file or directory)."


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    assert "cannot be read" in refusal(tmp_path)


def test_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b"\xff\xfe\x00max_webhooks = 1")
    assert "not a TOML file" in refusal(path)


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    message = refusal(toml_file(tmp_path, "max_webhooks = 1\n[policy\n"))
    assert "is not valid TOML" in message and "line 2" in message


def test_a_name_given_twice_is_invalid_toml(tmp_path: Path) -> None:
    assert "is not valid TOML" in refusal(
        toml_file(tmp_path, "max_webhooks = 1\nmax_webhooks = 2\n")
    )


def test_the_documented_example_loads_and_states_the_defaults(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "api.md"
    section = docs.read_text().split("## Settings", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    assert load_settings(toml_file(tmp_path, example)) == Settings()
