"""Creating the demo's data space as its parties would: each authority and each organisation in a folder of its
own, holding its own keys and nothing of another party's but public material.

Layout (the same in every profile; with compose each party's folder is a volume of its own)::

    workspace.json          what the story and scripts need to know (no secret: API keys are in files)
    public/                 what authorities hand out of band: their root certificates, trust lists (ETSI TS 119
                            612) and signed recognitions of the other federation
    authorities/<fed>/      an authority's folder (its root CA and credential keys, ledgers, onboarding record,
                            the base registries' publications it checks organisations against)
    orgs/<org>/
        identity/           the node's own keys and signing requests (certificates once enrolled)
        anchors/, trust/    the federations' roots, trust lists and recognitions, from public/
        api-key             the management API key (0600), named by management.api_key_file
        node.toml, data/    the node's configuration and datasets

What is made here: each authority (root CA, credential key, trust list) with the organisations of its federation
onboarded (their participant ids, legal names and countries: what the operator agreed to vouch for), and each
organisation's keys and signing requests, made in its own folder. No certificate and no credential is issued
here: organisations enrol their signing requests with their authority's service and ask its issuer service for
their credentials over the network once it runs (`connector.demo.onboarding`).

Profiles: `local` (every party on this machine's loopback, free ports), `hosts` (each party on a host of its own:
names, addresses and the command prefix that runs a command there come from a hosts file; `scripts/netns-demo.sh`
gives each a network namespace), `compose` (docker-compose service names as hosts; each container makes its own
folder with `create_party`).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.demo import scenario, toml_out
from connector.demo.scenario import DATASETS, FEDERATIONS, ORGANISATIONS
from connector.errors import ConnectorError
from connector.free_port import free_port
from connector.keys import write_public_file
from connector.pki.authority import Authority

WORKSPACE_FILE = "workspace.json"
PROFILES = ("local", "hosts", "compose")
PORTS = {"authority": 8765, "protocol": 8443, "management": 8181, "data": 8444}
SECRETS = "/run/secrets"  # where compose mounts a container's secrets


@dataclass(frozen=True)
class Place:
    """Where a party runs: the host name peers use, the address its listeners bind, its ports, and the command
    prefix that runs a command as that party (empty: on this machine)."""

    host: str
    bind: str
    ports: dict[str, int]
    run: tuple[str, ...] = ()
    path_style: bool = False  # participant ids with a path (several parties on one host:port space)


@dataclass
class Workspace:
    dir: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, directory: Path) -> Workspace:
        path = Path(directory) / WORKSPACE_FILE
        try:
            return cls(Path(directory).resolve(), json.loads(path.read_text()))
        except FileNotFoundError:
            raise ConnectorError(
                "demo.no_workspace",
                f"no demo workspace in {directory} (run 'connector demo init --workdir DIR' first)",
                "--workdir",
            ) from None

    def path(self, relative: str) -> Path:
        return self.dir / relative

    def organisation(self, key: str) -> dict[str, Any]:
        return next(o for o in self.data["organisations"] if o["key"] == key)

    def authority(self, key: str) -> dict[str, Any]:
        return next(a for a in self.data["authorities"] if a["key"] == key)

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        return next(d for d in self.data["datasets"] if d["id"] == dataset_id)

    def api_key(self, org: dict[str, Any]) -> str:
        path = Path(org["apiKeyFile"])
        return (path if path.is_absolute() else self.dir / path).read_text().strip()


# --- where the parties are ------------------------------------------------------------------------------------------


def places(profile: str, hosts: dict[str, Any] | None = None) -> dict[str, Place]:
    """Every party's place: authorities as ``authority-<fed>``, organisations by their key."""
    if profile not in PROFILES:
        raise ConnectorError("demo.profile", f"unknown profile '{profile}' ({', '.join(PROFILES)})", "--profile")
    parties = [f"authority-{f.key}" for f in FEDERATIONS] + [o.key for o in ORGANISATIONS]
    found: dict[str, Place] = {}
    for party in parties:
        if profile == "local":
            found[party] = Place(
                "localhost", "127.0.0.1", {k: free_port() for k in PORTS}, path_style=not party.startswith("auth")
            )
        elif profile == "compose":
            found[party] = Place(party, "0.0.0.0", dict(PORTS))
        else:
            entry = (hosts or {}).get(party)
            if not isinstance(entry, dict) or not isinstance(entry.get("host"), str):
                raise ConnectorError("demo.hosts", f"the hosts file names no host for {party}", "--hosts")
            run = entry.get("run", [])
            if not isinstance(run, list) or not all(isinstance(x, str) for x in run):
                raise ConnectorError("demo.hosts", f"'run' of {party} must be a list of strings", "--hosts")
            found[party] = Place(entry["host"], str(entry.get("address", entry["host"])), dict(PORTS), tuple(run))
    return found


def _participant_id(key: str, place: Place) -> str:
    port = place.ports["protocol"]
    return f"did:web:{place.host}%3A{port}:{key}" if place.path_style else f"did:web:{place.host}%3A{port}"


def describe(profile: str, where: dict[str, Place]) -> dict[str, Any]:
    """What workspace.json says: every party, where it is reached, and the datasets (no secret)."""
    authorities = []
    for fed in FEDERATIONS:
        place = where[f"authority-{fed.key}"]
        other = next(f for f in FEDERATIONS if f.key != fed.key)
        url = f"https://{place.host}:{place.ports['authority']}"
        authorities.append(
            {
                "key": fed.key,
                "name": fed.name,
                "dataspace": fed.dataspace,
                "dir": f"authorities/{fed.key}",
                "publicUrl": url,
                "listen": f"{place.bind}:{place.ports['authority']}",
                "service": f"authority-{fed.key}",
                "caCertificate": f"public/{fed.key}.ca.cert.pem",
                "trustList": f"public/{fed.key}.trust-list.xml",
                "recognition": f"public/{fed.key}.recognises-{other.key}.jwt",
                "run": list(place.run),
            }
        )
    orgs = []
    for org in ORGANISATIONS:
        place = where[org.key]
        management_host = "127.0.0.1" if profile == "local" else place.bind if profile == "hosts" else place.host
        orgs.append(
            {
                "key": org.key,
                "name": org.name,
                "country": org.country,
                "federation": org.federation,
                "participantId": _participant_id(org.key, place),
                "dir": f"orgs/{org.key}",
                "config": f"orgs/{org.key}/node.toml",
                "protocol": f"https://{place.host}:{place.ports['protocol']}/dsp/2025-1",
                "management": f"http://{management_host}:{place.ports['management']}",
                "data": f"https://{place.host}:{place.ports['data']}",
                "apiKeyFile": f"{SECRETS}/{org.key}-api-key" if profile == "compose" else f"orgs/{org.key}/api-key",
                "legalEntity": f"{org.registry}:{org.registry_id}",
                "listen": {
                    "protocol": f"{place.bind}:{place.ports['protocol']}",
                    "management": f"{place.bind}:{place.ports['management']}",
                    "data": f"{place.bind}:{place.ports['data']}",
                },
                "run": list(place.run),
            }
        )
    return {
        "version": 2,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "authorities": authorities,
        "registries": {registry: f"registries/{name}" for registry, name in registry_files().items()},
        "organisations": orgs,
        "datasets": [
            {
                "id": d.id,
                "provider": d.provider,
                "title": d.title,
                "offer": f"{d.id}-offer",
                "source": _source_words(d.source),
                "policy": d.policy_words,
                "expected": d.expected,
            }
            for d in DATASETS
        ],
    }


# --- the parties' folders -------------------------------------------------------------------------------------------


def init_authority(directory: Path, data: dict[str, Any], key: str) -> Authority:
    """An authority's folder: root CA, credential key, the base registries' publications it checks organisations
    against, the organisations of its federation onboarded (each with its registry entry), a trust list of its
    accredited services (ETSI TS 119 612); its root certificate and trust list are published to ``public/`` (they
    are handed out of band), and so is its recognition of every federation whose list is published already."""
    meta = next(a for a in data["authorities"] if a["key"] == key)
    folder = directory / meta["dir"]
    authority = (
        Authority(folder)
        if (folder / "authority.json").exists()
        else Authority.init(folder, meta["name"], public_url=meta["publicUrl"])
    )
    if authority.federation_id != meta["dataspace"]:
        raise ConnectorError("demo.internal", f"federation id {authority.federation_id} is not {meta['dataspace']}")
    from connector.pki import onboarding
    from connector.pki.credentials import RegistryRequest
    from connector.pki.trust_list import ETSI_TRUST_LIST_FILE, issue_trust_list

    registries = _write_registries(folder)
    for org in data["organisations"]:
        if org["federation"] == key and onboarding.onboarded(authority, org["participantId"]) is None:
            known = scenario.organisation(org["key"])
            registry = RegistryRequest(known.registry, folder / registries[known.registry], known.registry_id)
            onboarding.onboard(authority, org["participantId"], known.name, org["country"], registry=registry)
    trust_list = authority.dir / ETSI_TRUST_LIST_FILE
    if not trust_list.exists():
        issue_trust_list(authority, valid_days=30, format="etsi")
    public = directory / "public"
    public.mkdir(parents=True, exist_ok=True)
    # Written whole or not at all: organisations' containers read public/ while authorities publish to it.
    write_public_file(directory / meta["caCertificate"], authority.ca_cert_path.read_bytes())
    write_public_file(directory / meta["trustList"], trust_list.read_bytes())
    recognise(directory, data, key)
    return authority


def recognise(directory: Path, data: dict[str, Any], key: str) -> None:
    """The authority of `key` recognises the membership of every other federation whose trust list is published,
    for the scenario's purposes: a signed statement in ``public/``, its id noted in `data` (made once)."""
    from connector.pki.recognitions import issue_recognition_statement

    meta = next(a for a in data["authorities"] if a["key"] == key)
    statement = directory / meta["recognition"]
    for other in data["authorities"]:
        if other["key"] == key or not (directory / other["trustList"]).exists():
            continue
        if not statement.exists():
            issue_recognition_statement(
                Authority(directory / meta["dir"]),
                directory / other["trustList"],
                [("MembershipCredential", "MembershipCredential")],
                scenario.RECOGNISED_PURPOSES,
                out=statement,
            )
        meta["recognitionId"] = statement_id(statement)


def statement_id(path: Path) -> str:
    """The id of a signed recognition statement (its `jti`), read without verifying: for display and lookup."""
    import base64

    payload = path.read_text().strip().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["jti"])


def init_organisation(directory: Path, data: dict[str, Any], key: str, profile: str) -> Path:
    """An organisation's folder: its own keys and signing requests, the public anchors and trust lists, its API
    key, its node's configuration and its datasets. Returns the folder."""
    from connector.pki.requests import make_requests

    entry = next(o for o in data["organisations"] if o["key"] == key)
    org = scenario.organisation(key)
    folder = directory / entry["dir"]
    identity = folder / "identity"
    if not (identity / "tls.key.pem").exists():
        host = entry["protocol"].split("//", 1)[1].split(":", 1)[0]
        hosts = [host, "localhost", "127.0.0.1"] if profile == "local" else [host]
        make_requests(identity, entry["participantId"], hosts, org.country, org.name)
    for meta in data["authorities"]:
        published = [("anchors", meta["caCertificate"]), ("trust", meta["trustList"]), ("trust", meta["recognition"])]
        for kind, source in published:
            if not (directory / source).exists():
                continue  # a recognition not signed (yet): the node applies none of that federation
            target = folder / kind / Path(source).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(directory / source, target)
    if profile != "compose" and not (folder / "api-key").exists():
        fd = os.open(folder / "api-key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    _write_data(folder / "data", key)
    (folder / "node.toml").write_text(_node_config(org, entry, data, profile))
    return folder


def create(directory: Path, profile: str = "local", hosts: dict[str, Any] | None = None) -> Workspace:
    """Every party's folder, for a data space on this machine (local) or on hosts reached by name (hosts)."""
    if profile == "compose":
        raise ConnectorError(
            "demo.profile", "with compose each container makes its own folder ('connector demo party')", "--profile"
        )
    directory = Path(directory).resolve()
    if (directory / WORKSPACE_FILE).exists():
        raise ConnectorError(
            "demo.exists", f"{directory} already holds a demo workspace; choose another --workdir", "--workdir"
        )
    directory.mkdir(parents=True, exist_ok=True)
    data = describe(profile, places(profile, hosts))
    for fed in FEDERATIONS:
        init_authority(directory, data, fed.key)
    for fed in FEDERATIONS:  # the first one's recognition of those published after it
        recognise(directory, data, fed.key)
    for org in ORGANISATIONS:
        init_organisation(directory, data, org.key, profile)
    (directory / WORKSPACE_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return Workspace(directory, data)


def create_party(directory: Path, party: str) -> Path:
    """One party's folder in the compose profile (in its own container, its own volume): an authority
    (``authority-<fed>``, which also publishes its root and trust list to ``public/``) or an organisation (which
    needs both federations' published roots and trust lists there)."""
    data = describe("compose", places("compose"))
    directory = Path(directory)
    for fed in FEDERATIONS:
        if party == f"authority-{fed.key}":
            return init_authority(directory, data, fed.key).dir
    if any(o.key == party for o in ORGANISATIONS):
        # The node's configuration names every federation's root, trust list and recognition: all must be there.
        published = [a[kind] for a in data["authorities"] for kind in ("caCertificate", "trustList", "recognition")]
        missing = [name for name in published if not (directory / name).exists()]
        if missing:
            raise ConnectorError(
                "demo.not_published", f"the authorities have not published {', '.join(missing)} yet", "--workdir"
            )
        return init_organisation(directory, data, party, "compose")
    raise ConnectorError("demo.party", f"no party '{party}' in the scenario", "PARTY")


def derived(directory: Path, profile: str) -> Workspace:
    """The workspace of a profile whose parties made their own folders (compose): described, not loaded. Any
    other profile's workspace is made by `connector demo init`, and loaded (an error names it when it is not there)."""
    if profile != "compose" or (Path(directory) / WORKSPACE_FILE).exists():
        return Workspace.load(directory)
    return Workspace(Path(directory).resolve(), describe(profile, places(profile)))


# --- a node's configuration --------------------------------------------------------------------------------------


def _source_words(source: dict[str, Any]) -> str:
    if source["type"] == "file":
        return f"file data/{source['path']}"
    if source["type"] == "sql":
        return f"SQL query on data/{source['database']} ({source['format']})"
    return source["type"]


def _node_config(org: scenario.Organisation, entry: dict[str, Any], data: dict[str, Any], profile: str) -> str:
    own = next(a for a in data["authorities"] if a["key"] == org.federation)
    api_key_file = entry["apiKeyFile"] if profile == "compose" else "api-key"
    parts = [
        f"# {org.name} ({org.country}), member of the {own['name']}.\n"
        f"# Generated by 'connector demo'; paths are relative to this file. The keys in identity/ were made here;\n"
        f"# the certificates come from enrolling with {own['publicUrl']} ('connector pki enrol'), the credentials\n"
        f"# from its issuer service ('connector credentials request'), the CRLs from the authorities' URLs.\n",
        toml_out.table("node", {"participant_id": entry["participantId"], "name": org.name, "data_dir": "var"}),
        toml_out.table(
            "identity",
            {
                "tls_cert": "identity/tls.cert.pem",
                "tls_key": "identity/tls.key.pem",
                "signing_key": "identity/signing.key.pem",
                "signing_cert": "identity/signing.cert.pem",
            },
        ),
        toml_out.table(
            "protocol",
            {"listen": entry["listen"]["protocol"], "public_url": entry["protocol"].removesuffix("/dsp/2025-1")},
        ),
        toml_out.table(
            "management",
            {
                "listen": entry["listen"]["management"],
                "api_key_file": api_key_file,
                # Outside the local profile the listener binds the host's own address on a private network
                # (the demo's namespaces or containers) for the story to reach it.
                **({"allow_plain_http_remote": True} if profile != "local" else {}),
            },
        ),
        toml_out.table(
            "data",
            {
                "listen": entry["listen"]["data"],
                "public_url": entry["data"],
                "root": "data",
                # Where pushed data lands (data.inbox below node.data_dir), as a data root too: the story shows
                # that what arrived under "no onward transfer" cannot be offered from there.
                "roots": {"received": "var/inbox"},
            },
        ),
        toml_out.table(
            "trust",
            {
                "ca": [f"anchors/{Path(own['caCertificate']).name}"],
                "recognitions": [f"trust/{Path(meta['recognition']).name}" for meta in data["authorities"]],
                "reload_interval": 0.5,
                "crl_max_age": 1.0,
                "crl_grace": 60.0,
                "status_max_age": 2.0,
                "presentation_reuse": 60.0,
            },
        ),
    ]
    for meta in data["authorities"]:
        parts.append(
            toml_out.array_table(
                "trust.lists",
                {
                    "file": f"trust/{Path(meta['trustList']).name}",
                    "anchor": f"anchors/{Path(meta['caCertificate']).name}",
                    "url": f"{meta['publicUrl']}/trust-list.xml",
                },
            )
        )
    parts.append(toml_out.table("evidence", {"tsa_url": f"{own['publicUrl']}/tsa", "checkpoint_interval": 60.0}))
    parts.append(toml_out.table("dsp", {"delivery_deadline": 30.0, "retry_max": 2.0}))
    parts.append(toml_out.table("log", {"level": "info"}))
    for peer in data["organisations"]:
        if peer["key"] != org.key:
            parts.append(
                toml_out.array_table(
                    "peers", {"name": peer["key"], "address": peer["protocol"], "participant_id": peer["participantId"]}
                )
            )
    for dataset in DATASETS:
        if dataset.provider != org.key:
            continue
        parts.append(
            toml_out.array_table(
                "assets",
                {
                    "id": dataset.id,
                    "title": dataset.title,
                    "description": dataset.description,
                    "keywords": list(dataset.keywords),
                    "mediaType": dataset.media_type,
                    "formats": list(dataset.formats),
                    "source": dataset.source,
                },
            )
        )
        parts.append(
            toml_out.array_table(
                "policies",
                {"id": f"{dataset.id}-contract", "description": dataset.policy_words, "policy": dataset.policy},
            )
        )
        parts.append(
            toml_out.array_table(
                "offers",
                {"id": f"{dataset.id}-offer", "asset": dataset.id, "contract_policy": f"{dataset.id}-contract"},
            )
        )
    return "\n".join(parts)


# --- datasets --------------------------------------------------------------------------------------------------


def _write_data(folder: Path, key: str) -> None:
    """Realistic, deterministic datasets (a fixed seed per dataset: the same bytes every run, whoever makes them)."""
    start = datetime(2026, 6, 1, tzinfo=UTC)
    if key == "tokyo-mobility" and not (folder / "traffic-flow.csv").exists():
        rng = random.Random(2025)
        with open(folder / "traffic-flow.csv", "w", newline="") as f:
            f.write("station,timestamp,lane,vehicles,mean_speed_kmh\n")
            for minute in range(0, 24 * 60, 5):
                moment = (start + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
                for station in range(1, 41):
                    for lane in (1, 2):
                        vehicles = max(0, int(rng.gauss(60 if 6 <= minute // 60 <= 21 else 15, 12)))
                        f.write(f"TKY-{station:03d},{moment},{lane},{vehicles},{rng.uniform(12, 58):.1f}\n")
    if key == "berlin-energy" and not (folder / "meters.sqlite").exists():
        rng = random.Random(2026)
        db = sqlite3.connect(folder / "meters.sqlite")
        db.execute("CREATE TABLE readings (meter TEXT, ts TEXT, kwh REAL)")
        db.executemany(
            "INSERT INTO readings VALUES (?, ?, ?)",
            [
                (
                    f"BER-{m:04d}",
                    (start + timedelta(minutes=15 * q)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    round(abs(rng.gauss(0.12, 0.05)), 3),
                )
                for m in range(1, 201)
                for q in range(96)
            ],
        )
        db.commit()
        db.close()
    if key == "berlin-energy" and not (folder / "grid-frequency.csv").exists():
        rng = random.Random(2028)
        with open(folder / "grid-frequency.csv", "w", newline="") as f:
            f.write("timestamp,frequency_hz\n")
            for second in range(3600):
                moment = (start + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
                f.write(f"{moment},{50 + rng.gauss(0, 0.012):.4f}\n")
    if key == "tokyo-mobility" and not (folder / "charging-stations.csv").exists():
        rng = random.Random(2029)
        with open(folder / "charging-stations.csv", "w", newline="") as f:
            f.write("station,hour,occupied_points,total_points\n")
            for hour in range(7 * 24):
                moment = (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:00Z")
                for station in range(1, 121):
                    f.write(f"TKY-EV-{station:03d},{moment},{rng.randint(0, 4)},4\n")
    if key == "tokyo-mobility" and not (folder / "ev-charging-sessions.csv").exists():
        rng = random.Random(2030)
        with open(folder / "ev-charging-sessions.csv", "w", newline="") as f:
            f.write("point,start,end,kwh\n")
            for _ in range(600):
                begin = start + timedelta(minutes=rng.randrange(7 * 24 * 60))
                end = begin + timedelta(minutes=rng.randrange(20, 240))
                f.write(
                    f"TKY-EV{rng.randrange(1, 26):02d},{begin:%Y-%m-%dT%H:%M:%SZ},{end:%Y-%m-%dT%H:%M:%SZ},"
                    f"{rng.uniform(4, 55):.2f}\n"
                )
    if key == "lyon-health" and not (folder / "hospital-occupancy.jsonl").exists():
        rng = random.Random(2027)
        beds = {"icu": 20, "surgery": 60, "medicine": 90, "paediatrics": 30}
        with open(folder / "hospital-occupancy.jsonl", "w") as f:
            for day in range(365):
                date = (start + timedelta(days=day)).strftime("%Y-%m-%d")
                for hospital in range(1, 13):
                    for ward, total in beds.items():
                        occupied = min(total, max(0, int(rng.gauss(total * 0.8, total * 0.1))))
                        f.write(
                            json.dumps(
                                {
                                    "date": date,
                                    "hospital": f"LYO-H{hospital:02d}",
                                    "ward": ward,
                                    "beds": total,
                                    "occupied": occupied,
                                }
                            )
                            + "\n"
                        )


# --- base registries -----------------------------------------------------------------------------------------


def registry_files() -> dict[str, str]:
    """The file name of each registry's publication, as its day's download would be named."""
    from connector.trust.registries import JP_CORPORATE_NUMBER, LEI

    day = datetime.now(UTC).strftime("%Y%m%d")
    return {
        JP_CORPORATE_NUMBER: f"00_zenkoku_all_{day}.csv",
        LEI: f"{day}-0800-gleif-goldencopy-lei2-golden-copy.csv",
    }


def _write_registries(folder: Path) -> dict[str, str]:
    """The demo's organisations in the two registries' publications, as an authority's operator would download
    them into its folder (made-up entries in the published layouts): the corporate number CSV (Unicode edition, no
    header) and a GLEIF golden copy extract. Registry -> path relative to `folder`."""
    import csv

    from connector.trust.registries import (
        GLEIF_COLUMNS,
        JP_CORPORATE_NUMBER,
        LEI,
        LegalAddress,
        RegistryRecord,
        to_gleif_row,
        to_nta_row,
    )

    files = {registry: f"registries/{name}" for registry, name in registry_files().items()}
    if all((folder / f).exists() for f in files.values()):
        return files
    (folder / "registries").mkdir(parents=True, exist_ok=True)
    updated = datetime.now(UTC).date().isoformat()
    nta_rows: list[list[str]] = []
    lei_rows: list[list[str]] = []
    for org in ORGANISATIONS:
        street, locality, region, postal = org.address
        address = LegalAddress(street, locality, org.country, region, postal)
        record = RegistryRecord(
            org.registry, org.registry_id, org.registered_name, address, True, "registered", updated, org.name
        )
        if org.registry == JP_CORPORATE_NUMBER:
            japanese = LegalAddress("大手町２丁目７－１", "千代田区", "JP", "東京都", postal)
            nta_rows.append(to_nta_row(record, len(nta_rows) + 1, japanese, codes=("13", "101")))
        else:
            lei_rows.append(to_gleif_row(record, org.country, "2HBR" if org.country == "DE" else "6CHY"))
    with open(folder / files[JP_CORPORATE_NUMBER], "w", encoding="utf-8", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(nta_rows)
    with open(folder / files[LEI], "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(GLEIF_COLUMNS)
        writer.writerows(lei_rows)
    return files
