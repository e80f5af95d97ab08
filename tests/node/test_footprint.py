"""What an idle node does not load: libraries only some requests, some configurations or the console need are
imported when first used, so that a node nobody talks to yet stays small and starts fast."""

from __future__ import annotations

import json
import subprocess
import sys

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
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    assert loaded == [], {name: LOADED_ON_FIRST_USE[name] for name in loaded}


def test_what_is_loaded_on_first_use_still_works() -> None:
    probe = (
        "import json, sys; from connector.dsp.schemas import validate; "
        "problems = validate('CatalogRequestMessage', {'@type': 'CatalogRequestMessage'}); "
        "from connector.console.rendering import Templates; Templates().env.get_template('login.html'); "
        "print(json.dumps([bool(problems), 'jsonschema' in sys.modules, 'jinja2' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [True, True, True]  # a message without its @context is refused, as before
