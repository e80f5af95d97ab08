"""The properties file shipped for the official TCK (`config/tck.properties`) fits the node's TCK profile.

TCK.md section 2 lists what a real node needs: how to reach it, its agent id and Authorization value, its two
webhooks, the TCK's own callback address, and every per-scenario id (which the profile seeds).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from tck import java_properties
from tck.profile import (
    NEGOTIATION_WEBHOOK,
    PROFILE,
    PROPERTIES,
    TRANSFER_WEBHOOK,
    profile_authorization,
    profile_participant,
    read_profile,
)
from tck.sample_ids import CONNECTION_KEYS, SAMPLE_IDS, TP_C_01_05_ACCEPTED

from connector.config import parse_listen
from connector.dsp.versions import DSP_BASE_PATH

KEY = "dataspacetck.dsp.connector."


@pytest.fixture(scope="module")
def properties() -> dict[str, str]:
    if not PROPERTIES.exists():
        pytest.skip(f"{PROPERTIES.name} does not exist yet")
    return java_properties.loads(PROPERTIES.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    if not PROFILE.exists():
        pytest.skip(f"{PROFILE.name} does not exist yet")
    return read_profile()


def test_properties_name_every_key_a_real_node_needs(properties: dict[str, str]) -> None:
    missing = [key for key in (*CONNECTION_KEYS, *SAMPLE_IDS) if not properties.get(key)]
    assert not missing, f"missing or empty keys: {', '.join(missing)}"


def test_properties_run_against_a_remote_node(properties: dict[str, str]) -> None:
    assert properties["dataspacetck.dsp.local.connector"] == "false"


def test_per_scenario_ids_are_the_ones_the_profile_seeds(properties: dict[str, str]) -> None:
    wrong = []
    for key, expected in SAMPLE_IDS.items():
        value = properties.get(key)
        accepted = TP_C_01_05_ACCEPTED if key == "TP_C_01_05_AGREEMENTID" else {expected}
        if value not in accepted:
            wrong.append(f"{key}={value!r} (expected {' or '.join(sorted(accepted))})")
    assert not wrong, "; ".join(wrong)


def test_agent_id_and_authorization_are_the_profile_values(properties: dict[str, str], profile: dict[str, Any]) -> None:
    assert properties[KEY + "agent.id"] == profile_participant(profile)
    assert properties[KEY + "http.headers.authorization"] == profile_authorization(profile)


def test_urls_point_at_the_profile_listener(properties: dict[str, str], profile: dict[str, Any]) -> None:
    base = properties[KEY + "http.base.url"].rstrip("/")
    assert properties[KEY + "http.url"] == base + DSP_BASE_PATH, "http.url is the DSP base, without a trailing /"
    assert properties[KEY + "negotiation.initiate.url"] == base + NEGOTIATION_WEBHOOK
    assert properties[KEY + "transfer.initiate.url"] == base + TRANSFER_WEBHOOK
    protocol = profile.get("protocol", {})
    public_url = protocol.get("public_url")
    if public_url:
        assert base == public_url.rstrip("/")
    else:
        listen = parse_listen(protocol.get("listen"), "protocol.listen")
        assert urlsplit(base).port == listen.port


def test_tck_callback_address_is_a_root_url(properties: dict[str, str]) -> None:
    address = urlsplit(properties["dataspacetck.callback.address"])
    assert address.scheme == "http" and address.hostname
    assert address.path in ("", "/"), "the TCK matches ^/negotiations/... on the request path: no path prefix"
    port = properties.get("dataspacetck.port")  # where the TCK's server binds; it must serve the advertised address
    if port:
        assert (address.port or 80) == int(port)
