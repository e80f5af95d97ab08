"""Creating the demo workspace: authorities, identities, credentials, trust lists, node configurations, data, and
`workspace.json`, which describes it all for scripts (and for `connector demo story`).

Two profiles: `local` (everything on loopback, free ports, processes on this machine) and `compose` (the
docker-compose service names as hosts, fixed ports, listeners on all interfaces inside the network).
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.demo import scenario, toml_out
from connector.demo.scenario import DATASETS, FEDERATIONS, ORGANISATIONS
from connector.errors import ConnectorError
from connector.free_port import free_port
from connector.pki.authority import Authority

WORKSPACE_FILE = "workspace.json"
COMPOSE_PORTS = {"authority": 8765, "protocol": 8443, "management": 8181, "data": 8444}


@dataclass
class Workspace:
    dir: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, directory: Path) -> Workspace:
        path = Path(directory) / WORKSPACE_FILE
        try:
            return cls(Path(directory), json.loads(path.read_text()))
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


def create(directory: Path, profile: str = "local") -> Workspace:
    if profile not in ("local", "compose"):
        raise ConnectorError("demo.profile", f"unknown profile '{profile}' (local or compose)", "--profile")
    directory = Path(directory)
    if (directory / WORKSPACE_FILE).exists():
        raise ConnectorError(
            "demo.exists", f"{directory} already holds a demo workspace; choose another --workdir", "--workdir"
        )
    directory.mkdir(parents=True, exist_ok=True)
    compose = profile == "compose"

    def host(service: str) -> str:
        return service if compose else "localhost"

    def port(kind: str) -> int:
        return COMPOSE_PORTS[kind] if compose else free_port()

    bind = "0.0.0.0" if compose else "127.0.0.1"

    # Authorities: one per federation, each publishing status lists, CRL, trust list (and time stamps).
    authorities: dict[str, tuple[Authority, dict[str, Any]]] = {}
    for fed in FEDERATIONS:
        service = f"authority-{fed.key}"
        p = port("authority")
        public_url = f"https://{host(service)}:{p}"
        authority = Authority.init(directory / "authorities" / fed.key, fed.name, public_url=public_url)
        authorities[fed.key] = (
            authority,
            {
                "key": fed.key,
                "name": fed.name,
                "dataspace": authority.federation_id,
                "dir": f"authorities/{fed.key}",
                "publicUrl": public_url,
                "listen": f"{bind}:{p}",
                "service": service,
                "issuerId": authority.issuer_id,
                "caCertificate": f"authorities/{fed.key}/ca.cert.pem",
                "trustList": f"authorities/{fed.key}/trust-list.xml",
                "crl": f"authorities/{fed.key}/crl.pem",
            },
        )
        if authority.federation_id != fed.dataspace:
            raise ConnectorError(
                "demo.internal", f"federation id {authority.federation_id} differs from the scenario's {fed.dataspace}"
            )

    # Base registries, as their publications would be downloaded: every organisation is checked against one.
    registries = _write_registries(directory)

    # Organisations: identity, credentials, data, configuration.
    orgs: list[dict[str, Any]] = []
    plans = []
    for org in ORGANISATIONS:
        p_proto, p_mgmt, p_data = port("protocol"), port("management"), port("data")
        h = host(org.key)
        pid = f"did:web:{h}%3A{p_proto}" if compose else f"did:web:localhost%3A{p_proto}:{org.key}"
        authority, _ = authorities[org.federation]
        org_dir = directory / "orgs" / org.key
        authority.issue_participant(
            pid,
            [h, "localhost", "127.0.0.1"] if not compose else [h, "localhost"],
            org_dir / "identity",
            country=org.country,
            organisation=org.name,
        )
        from connector.pki.credentials import RegistryRequest, issue_participant_credential

        issue_participant_credential(authority, pid, "membership", out=org_dir / "identity")
        issue_participant_credential(
            authority,
            pid,
            "organization",
            country=org.country,
            name=org.name,
            out=org_dir / "identity",
            registry=RegistryRequest(org.registry, directory / registries[org.registry], org.registry_id),
        )
        (org_dir / "data").mkdir(parents=True, exist_ok=True)
        entry = {
            "key": org.key,
            "name": org.name,
            "country": org.country,
            "federation": org.federation,
            "participantId": pid,
            "config": f"orgs/{org.key}/node.toml",
            "protocol": f"https://{h}:{p_proto}/dsp/2025-1",
            "management": f"http://{'127.0.0.1' if not compose else h}:{p_mgmt}",
            "data": f"https://{h}:{p_data}",
            "apiKey": secrets.token_urlsafe(24),
            "legalEntity": f"{org.registry}:{org.registry_id}",
            "listen": {"protocol": f"{bind}:{p_proto}", "management": f"{bind}:{p_mgmt}", "data": f"{bind}:{p_data}"},
        }
        orgs.append(entry)
        plans.append((org, entry, org_dir))

    # Trust lists, after every participant exists (they list CAs and issuers, not participants): ETSI TS 119 612
    # trusted lists of each federation's accredited services.
    from connector.pki.trust_list import issue_trust_list

    for authority, _ in authorities.values():
        issue_trust_list(authority, valid_days=30, format="etsi")
    _issue_recognitions(directory, authorities)

    _write_data(directory, plans)
    for org, entry, org_dir in plans:
        (org_dir / "node.toml").write_text(_node_config(org, entry, orgs, authorities, compose))

    data = {
        "version": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "authorities": [meta for _, meta in authorities.values()],
        "registries": registries,
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
    (directory / WORKSPACE_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return Workspace(directory, data)


def _source_words(source: dict[str, Any]) -> str:
    if source["type"] == "file":
        return f"file data/{source['path']}"
    if source["type"] == "sql":
        return f"SQL query on data/{source['database']} ({source['format']})"
    return source["type"]


def _node_config(
    org: scenario.Organisation,
    entry: dict[str, Any],
    orgs: list[dict[str, Any]],
    authorities: dict[str, tuple[Authority, dict[str, Any]]],
    compose: bool,
) -> str:
    identity = "identity"
    own_authority = authorities[org.federation][1]
    parts = [
        f"# {org.name} ({org.country}), member of the {own_authority['name']}.\n"
        f"# Generated by 'connector demo'; paths are relative to this file.\n",
        toml_out.table("node", {"participant_id": entry["participantId"], "name": org.name, "data_dir": "var"}),
        toml_out.table(
            "identity",
            {
                "tls_cert": f"{identity}/tls.cert.pem",
                "tls_key": f"{identity}/tls.key.pem",
                "signing_key": f"{identity}/signing.key.pem",
                "signing_cert": f"{identity}/signing.cert.pem",
                "credentials": [f"{identity}/membership.credential.jwt", f"{identity}/organization.credential.jwt"],
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
                "api_key": entry["apiKey"],
                # In a container the listener binds every interface of the container's own network; the host
                # publishes it on its loopback only.
                **({"allow_plain_http_remote": True} if compose else {}),
            },
        ),
        toml_out.table(
            "data",
            {
                "listen": entry["listen"]["data"],
                "public_url": entry["data"],
                "root": "data",
                # Where pushed data lands, as a data root too: the story shows that what arrived under "no onward
                # transfer" cannot be offered from there (the node's data folder is a volume of its own in a
                # container).
                "roots": {"received": "/var/lib/connector/inbox" if compose else "var/inbox"},
            },
        ),
        toml_out.table(
            "trust",
            {
                "crl": [f"../../{meta['crl']}" for _, meta in authorities.values()],
                "recognitions": [f"../../{meta['recognition']}" for _, meta in authorities.values()],
                "reload_interval": 0.5,
                "status_max_age": 2.0,
                "presentation_reuse": 60.0,
            },
        ),
    ]
    for _, meta in authorities.values():
        parts.append(
            toml_out.array_table(
                "trust.lists",
                {
                    "file": f"../../{meta['trustList']}",
                    "anchor": f"../../{meta['caCertificate']}",
                    "url": f"{meta['publicUrl']}/trust-list.xml",
                },
            )
        )
    parts.append(
        toml_out.table("evidence", {"tsa_url": f"{own_authority['publicUrl']}/tsa", "checkpoint_interval": 60.0})
    )
    parts.append(toml_out.table("dsp", {"delivery_deadline": 30.0, "retry_max": 2.0}))
    parts.append(toml_out.table("log", {"level": "info"}))
    for peer in orgs:
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


def _issue_recognitions(directory: Path, authorities: dict[str, tuple[Any, dict[str, Any]]]) -> None:
    """Each federation recognises the other's membership as its own, for the scenario's purposes (a signed
    statement per federation, named in its entry of the workspace)."""
    from connector.pki.recognitions import issue_recognition_statement

    for key, (authority, meta) in authorities.items():
        other = next(m for k, (_, m) in authorities.items() if k != key)
        statement = f"authorities/{key}/recognises-{other['key']}.jwt"
        issued = issue_recognition_statement(
            authority,
            directory / other["trustList"],
            [("MembershipCredential", "MembershipCredential")],
            scenario.RECOGNISED_PURPOSES,
            out=directory / statement,
        )
        meta.update(recognition=statement, recognitionId=issued.id)


def _write_registries(directory: Path) -> dict[str, str]:
    """The demo's organisations in the two registries' publications (made-up entries in the published layouts):
    the corporate number CSV (Unicode edition, no header) and a GLEIF golden copy extract. Registry -> file."""
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

    day = datetime.now(UTC).strftime("%Y%m%d")
    files = {
        JP_CORPORATE_NUMBER: f"registries/00_zenkoku_all_{day}.csv",
        LEI: f"registries/{day}-0800-gleif-goldencopy-lei2-golden-copy.csv",
    }
    (directory / "registries").mkdir(parents=True, exist_ok=True)
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
    with open(directory / files[JP_CORPORATE_NUMBER], "w", encoding="utf-8", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(nta_rows)
    with open(directory / files[LEI], "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(GLEIF_COLUMNS)
        writer.writerows(lei_rows)
    return files


def _write_data(directory: Path, plans: list[tuple[Any, dict[str, Any], Path]]) -> None:
    """Realistic, deterministic datasets (a fixed seed: the same bytes every run)."""
    rng = random.Random(2025)
    dirs = {org.key: org_dir / "data" for org, _, org_dir in plans}
    start = datetime(2026, 6, 1, tzinfo=UTC)
    with open(dirs["tokyo-mobility"] / "traffic-flow.csv", "w", newline="") as f:
        f.write("station,timestamp,lane,vehicles,mean_speed_kmh\n")
        for minute in range(0, 24 * 60, 5):
            moment = (start + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for station in range(1, 41):
                for lane in (1, 2):
                    vehicles = max(0, int(rng.gauss(60 if 6 <= minute // 60 <= 21 else 15, 12)))
                    f.write(f"TKY-{station:03d},{moment},{lane},{vehicles},{rng.uniform(12, 58):.1f}\n")
    meters = dirs["berlin-energy"] / "meters.sqlite"
    db = sqlite3.connect(meters)
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
    with open(dirs["berlin-energy"] / "grid-frequency.csv", "w", newline="") as f:
        f.write("timestamp,frequency_hz\n")
        for second in range(3600):
            moment = (start + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
            f.write(f"{moment},{50 + rng.gauss(0, 0.012):.4f}\n")
    with open(dirs["tokyo-mobility"] / "charging-stations.csv", "w", newline="") as f:
        f.write("station,hour,occupied_points,total_points\n")
        for hour in range(7 * 24):
            moment = (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:00Z")
            for station in range(1, 121):
                f.write(f"TKY-EV-{station:03d},{moment},{rng.randint(0, 4)},4\n")
    with open(dirs["lyon-health"] / "hospital-occupancy.jsonl", "w") as f:
        for day in range(365):
            date = (start + timedelta(days=day)).strftime("%Y-%m-%d")
            for hospital in range(1, 13):
                for ward in ("icu", "surgery", "medicine", "paediatrics"):
                    beds = {"icu": 20, "surgery": 60, "medicine": 90, "paediatrics": 30}[ward]
                    occupied = min(beds, max(0, int(rng.gauss(beds * 0.8, beds * 0.1))))
                    f.write(
                        json.dumps(
                            {
                                "date": date,
                                "hospital": f"LYO-H{hospital:02d}",
                                "ward": ward,
                                "beds": beds,
                                "occupied": occupied,
                            }
                        )
                        + "\n"
                    )
    ev = random.Random(2026)  # a seed of its own: the other datasets stay byte for byte as they were
    with open(dirs["tokyo-mobility"] / "ev-charging-sessions.csv", "w", newline="") as f:
        f.write("point,start,end,kwh\n")
        for _ in range(600):
            begin = start + timedelta(minutes=ev.randrange(7 * 24 * 60))
            end = begin + timedelta(minutes=ev.randrange(20, 240))
            f.write(
                f"TKY-EV{ev.randrange(1, 26):02d},{begin:%Y-%m-%dT%H:%M:%SZ},{end:%Y-%m-%dT%H:%M:%SZ},"
                f"{ev.uniform(4, 55):.2f}\n"
            )
