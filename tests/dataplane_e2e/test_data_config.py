"""The [data] section of the configuration: defaults, named roots, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import Listen, config_from_dict
from connector.errors import ConfigError

BASE = {
    "node": {"participant_id": "did:web:localhost%3A8443:org-a"},
    "protocol": {"listen": "127.0.0.1:8443", "insecure_http": True},
    "management": {"api_key": "k" * 20},
    "trust": {},
    "store": {},
    "log": {},
}


def test_without_a_data_section_everything_has_a_documented_default(tmp_path: Path) -> None:
    data = config_from_dict(dict(BASE), tmp_path).data
    assert data.listen is None and data.public_url == "" and data.file_roots() == {}
    assert data.inbox == Path("inbox") and data.token_lifetime == 300.0 and data.workers == 4


def test_roots_are_named_folders_relative_to_the_configuration(tmp_path: Path) -> None:
    raw = {
        **BASE,
        "data": {"listen": "0.0.0.0:9444", "root": "shared", "roots": {"archive": "/srv/archive", "default": "other"}},
    }
    data = config_from_dict(raw, tmp_path).data
    assert data.listen == Listen("0.0.0.0", 9444)
    # An explicit roots.default wins over root.
    assert data.file_roots() == {"archive": Path("/srv/archive"), "default": tmp_path / "other"}
    only_root = config_from_dict({**BASE, "data": {"root": "shared"}}, tmp_path).data
    assert only_root.file_roots() == {"default": tmp_path / "shared"}


@pytest.mark.parametrize(
    "section, where",
    [
        ({"roots": {"../up": "/x"}}, "data.roots"),
        ({"roots": "x"}, "data.roots"),
        ({"token_lifetime": 0}, "data.token_lifetime"),
        ({"workers": 0}, "data.workers"),
        ({"public_url": "ftp://x"}, "data.public_url"),
        ({"listen": "nowhere"}, "data.listen"),
        ({"rooot": "x"}, "data.rooot"),
    ],
)
def test_a_wrong_data_setting_is_refused_naming_its_key(tmp_path: Path, section, where) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({**BASE, "data": section}, tmp_path)
    assert caught.value.where == where
