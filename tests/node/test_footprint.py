"""What an idle node does not load: libraries only some requests, some configurations or the console need are
imported when first used, so that a node nobody talks to yet stays small and starts fast."""

from __future__ import annotations

import json
import subprocess
import sys

from nodekit import in_fresh_process

# Each with what first needs it.
LOADED_ON_FIRST_USE = {
    "lxml": "a trusted list in ETSI form",
    "signxml": "a trusted list in ETSI form",
    "jsonschema": "the first DSP message validated",
    "asn1crypto": "the first time-stamp asked for or verified",
    "jinja2": "the first console page shown",
}


def test_starting_a_node_loads_none_of_what_only_some_requests_need() -> None:
    probe = (
        "import json, sys; import connector.cli.main, connector.node.runtime, connector.node.wiring; "
        f"print(json.dumps(sorted(m for m in {sorted(LOADED_ON_FIRST_USE)!r} if m in sys.modules)))"
    )
    loaded = in_fresh_process(probe)
    assert loaded == [], {name: LOADED_ON_FIRST_USE[name] for name in loaded}


def test_what_is_loaded_on_first_use_still_works() -> None:
    probe = (
        "import json, sys; from connector.dsp.schemas import validate; "
        "problems = validate('CatalogRequestMessage', {'@type': 'CatalogRequestMessage'}); "
        "from connector.console.rendering import Templates; Templates().env.get_template('login.html'); "
        "print(json.dumps([bool(problems), 'jsonschema' in sys.modules, 'jinja2' in sys.modules]))"
    )
    assert in_fresh_process(probe) == [True, True, True]  # a message without its @context is refused, as before


def test_signatures_load_their_library_when_first_made_and_check_as_before() -> None:
    probe = (
        "import json, sys; from cryptography.hazmat.primitives.asymmetric import ec; from connector import jws; "
        "before = 'jwt' in sys.modules; key = ec.generate_private_key(ec.SECP256R1()); "
        "token = jws.sign_compact(key, b'payload'); header, payload = jws.verify_compact(key.public_key(), token); "
        "other = ec.generate_private_key(ec.SECP256R1()).public_key(); refused = False\n"
        "try: jws.verify_compact(other, token)\n"
        "except jws.JwsError: refused = True\n"
        "print(json.dumps([before, 'jwt' in sys.modules, header['alg'], payload.decode(), refused, "
        "sorted(jws._implementations()) == sorted(jws.ALGORITHMS)]))"
    )
    assert in_fresh_process(probe) == [False, True, "ES256", "payload", True, True]


def test_the_host_s_mime_types_are_read_only_when_a_guess_is_first_asked_for() -> None:
    probe = (
        "import json, mimetypes; import connector; from aiohttp import web, web_fileresponse; "
        "before = mimetypes._db is None; types = web_fileresponse.CONTENT_TYPES; "
        "guessed = [types.guess_type('a.css')[0], mimetypes.guess_type('a.json')[0]]; "
        "print(json.dumps([before, guessed, mimetypes._db is not None]))"
    )
    assert in_fresh_process(probe) == [True, ["text/css", "application/json"], True]


# The node's own parts an idle node with the default configuration (certificates only, the console on) does not
# load, each with what first needs it.
PARTS_ON_FIRST_USE = {
    "connector.console.app": "the first request for a console page",
    "connector.trust.verifier": "[[trust.lists]] configured (the DCP verifier)",
    "connector.trust.edge.authenticator": "[[trust.lists]] configured (the DCP verifier)",
    "connector.trust.trust_list": "[[trust.lists]] configured",
    "connector.trust.services": "[[trust.lists]] configured",
    "connector.trust.credentials": "the first credential read: configured in [identity] credentials, delivered by an "
    "issuer, or a peer's verified",
    "connector.trust.presentations": "the first presentation query, answered by the credential service or asked by "
    "the verifier",
    "connector.trust.status_list": "the first status list fetched",
    "connector.trust.registries": "the first registry fact a policy asks for",
    "connector.trust.did": "the first DSP request sent, DID document served or presentation query answered",
    "connector.trust.tokens": "the first DSP request sent or presentation query answered",
    "connector.trust.issuance": "the first credential request to an issuer, or the first delivery from one",
    "connector.control.tck": "the TCK profile configured ([tck] enabled)",
    "connector.protocol.tck_webhooks": "the TCK profile configured ([tck] enabled)",
    "connector.dsp.messages": "the first DSP message received or sent, or the first catalogue built",
    "connector.dsp.schemas": "the first DSP message received or sent",
    "connector.dsp.wire": "the first DSP message received or sent",
    "connector.dsp.catalog_builder": "the first catalogue built",
    "connector.policy.engine": "the first policy parsed or decided (an offer defined, a request decided)",
    "connector.policy.parse": "the first policy parsed or decided",
    "connector.policy.evaluate": "the first policy parsed or decided",
    "connector.policy.decide": "the first policy parsed or decided",
    "connector.policy.operands": "the first policy parsed or decided",
    "connector.dataplane.provider": "the first pull, seal or fresh token asked of this node, or a push to send",
    "connector.evidence.seal": "the first pull, seal or fresh token asked of this node, or a push to send",
    "connector.evidence.receipts": "the first duty carried out or receipt received",
    "connector.evidence.intent": "the first agreement signed or checked",
    "connector.sources.file": "the first data address of its kind",
    "connector.sources.http": "the first data address of its kind",
    "connector.sources.sql": "the first data address of its kind",
    "connector.evidence.edge.export": "the first evidence export",
    "connector.evidence.edge.log_check": "the first check of the evidence log",
    "connector.evidence.edge.tsa_client": "the first time-stamp asked for",
    "connector.management.openapi": "the first request for /v1/openapi.json",
    "connector.dataplane.consumer": "the first data pushed to this node, or a pulled transfer's access asked for",
    "connector.pull.atomic_file": "the first data pushed to this node, or a pulled transfer's access asked for",
    "connector.cli.pki": "a command line naming another command than `serve`",
    "jwt": "the first signature made or checked",
    "prometheus_client": "the first scrape of /metrics",
}

# Run as `python -m connector serve` runs it; once ready, note what is loaded, ask for a console page and the API
# document, note again, and stop as an operator does (SIGTERM).
SERVE = """
import json, os, signal, sys, threading, time, urllib.request
config, mport, key, out = sys.argv[1:]
def watch():
    base = f"http://127.0.0.1:{mport}"
    while True:
        try:
            urllib.request.urlopen(base + "/check/readiness", timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    idle = sorted(sys.modules)
    with urllib.request.urlopen(base + "/console/login", timeout=10) as page:
        login = [page.status, "X-Api-Key" not in page.read().decode()]
    document = urllib.request.Request(base + "/v1/openapi.json", headers={"X-Api-Key": key})
    with urllib.request.urlopen(document, timeout=10) as answer:
        paths = sorted(json.load(answer)["paths"])
    scrape = urllib.request.Request(base + "/metrics", headers={"X-Api-Key": key})
    with urllib.request.urlopen(scrape, timeout=10) as answer:
        types = [line.split()[2] for line in answer.read().decode().splitlines() if line.startswith("# TYPE")]
    with open(out, "w") as f:
        json.dump({"idle": idle, "used": sorted(sys.modules), "login": login, "paths": paths, "types": types}, f)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=watch, daemon=True).start()
sys.argv = ["connector", "serve", "--config", config]
import runpy
runpy.run_module("connector", run_name="__main__", alter_sys=True)
"""


def test_an_idle_node_loads_none_of_its_parts_that_wait_for_first_use_and_they_work_when_first_used(
    authority, tmp_path
) -> None:
    from tests.nodekit import API_KEY, make_participant, write_config

    participant = make_participant(authority, tmp_path, "idle")
    config = write_config(participant, tmp_path)
    out = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", SERVE, str(config), str(participant.management_port), API_KEY, str(out)],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(out.read_text())
    loaded = [name for name in PARTS_ON_FIRST_USE if name in seen["idle"]]
    assert loaded == [], {name: PARTS_ON_FIRST_USE[name] for name in loaded}
    assert "connector.node.wiring" in seen["idle"]  # the probe looked at a started node
    # First use: the console's sign-in page, the whole API document and the metrics, as before.
    assert seen["login"] == [200, True]
    assert "connector.console.app" in seen["used"] and "connector.management.openapi" in seen["used"]
    assert {"/v1/assets", "/v1/negotiations", "/v1/openapi.json", "/v1/evidence/check"} <= set(seen["paths"])
    # The metrics: the node's own series, the process's, then what is read at each scrape.
    types = seen["types"]
    assert types[:2] == ["connector_info", "connector_refusals_total"], types
    assert types.index("connector_store_errors_total") < types.index("process_resident_memory_bytes")
    assert types.index("process_resident_memory_bytes") < types.index("connector_negotiations")
