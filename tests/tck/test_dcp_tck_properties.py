"""The properties shipped for the official DCP TCK's verifier tests (`config/dcp-tck.properties`) name what its
documentation asks for, and point the trigger at a node's DSP catalogue request on the verifier DID's host."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from tck import java_properties
from tck.profile import REPO_ROOT

from connector.dsp.versions import DSP_BASE_PATH
from connector.participant import did_web_origin, is_participant_id

PROPERTIES = REPO_ROOT / "config" / "dcp-tck.properties"
REQUIRED = (
    "dataspacetck.callback.address",
    "dataspacetck.did.verifier",
    "dataspacetck.did.thirdparty",
    "dataspacetck.vpp.trigger.endpoint",
)


def _properties() -> dict[str, str]:
    return java_properties.loads(PROPERTIES.read_text(encoding="utf-8"))


def test_every_key_the_verifier_tests_require_is_set() -> None:
    properties = _properties()
    assert [key for key in REQUIRED if not properties.get(key)] == []
    assert properties["dataspacetck.test.package"] == "org.eclipse.dataspacetck.dcp.verification.presentation.verifier"
    for key in ("dataspacetck.did.verifier", "dataspacetck.did.thirdparty", "dataspacetck.did.issuer"):
        assert is_participant_id(properties[key]), key


def test_the_trigger_is_the_verifiers_catalogue_request() -> None:
    properties = _properties()
    trigger = properties["dataspacetck.vpp.trigger.endpoint"]
    assert urlsplit(trigger).path == DSP_BASE_PATH + "/catalog/request"
    assert trigger.startswith(did_web_origin(properties["dataspacetck.did.verifier"]) + "/")


def test_the_tcks_parties_live_on_its_callback_address() -> None:
    properties = _properties()
    callback = urlsplit(properties["dataspacetck.callback.address"])
    for key in ("dataspacetck.did.holder", "dataspacetck.did.issuer", "dataspacetck.did.thirdparty"):
        host = unquote(properties[key].split(":")[2])
        assert host == callback.netloc, key
