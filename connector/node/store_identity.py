"""Which store a node keeps its state in, recorded outside the store: so that a store that is gone, empty or
another one is noticed at start instead of the node starting afresh, with no agreements and no evidence.

A store is given an id when it is first used (kept in its `settings`, so a copy made with `connector store copy`
keeps it), and the node writes that id to a marker file in its data folder (MARKER). At every start the two are
compared: a marker without its store (the file deleted, emptied, or the database dropped) or with another store
stops the node with an error naming both. `connector serve --initialise` is how an operator says that a new,
empty store is meant (the marker then records the new one); a node's very first start needs nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connector.atomic_write import write_atomically
from connector.errors import ConnectorError
from connector.store.interface import Store
from connector.store.sql.settings import get_setting, put_setting

log = logging.getLogger("connector.node")

MARKER = "store-identity.json"
STORE_ID = "store.id"  # the settings key of the store's own id


@dataclass(frozen=True)
class Marker:
    store_id: str
    participant_id: str
    store: str  # where the store was (its file, or its URL without password)
    recorded_at: str

    @staticmethod
    def path(data_dir: Path) -> Path:
        return data_dir / MARKER

    @classmethod
    def read(cls, data_dir: Path) -> Marker | None:
        path = cls.path(data_dir)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["storeId"]), str(data["participantId"]), str(data["store"]), str(data["recordedAt"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConnectorError(
                "store.marker_unreadable",
                f"{path} (which records the node's store) cannot be read: {exc}; restore it, or remove it if the "
                "store in the configuration is the node's",
                "node.data_dir",
            ) from None

    def write(self, data_dir: Path) -> None:
        path = self.path(data_dir)
        body = {
            "storeId": self.store_id,
            "participantId": self.participant_id,
            "store": self.store,
            "recordedAt": self.recorded_at,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # (replicas sharing the data folder may record it at once)
        write_atomically(path, (json.dumps(body, indent=2) + "\n").encode("utf-8"), 0o644)


def gone(marker: Marker, where: str, key: str, marker_path: Path) -> ConnectorError:
    """The store the marker records is not there (missing or empty)."""
    return ConnectorError(
        "store.gone",
        f"{where} is missing or empty, but this node kept its state in a store there (id {marker.store_id}, "
        f"recorded {marker.recorded_at} in {marker_path}): restore it, or start with `connector serve "
        "--initialise` to begin anew with an empty store (no agreements, no evidence)",
        key,
    )


async def settle(
    store: Store, data_dir: Path, participant_id: str, where: str, key: str, marker: Marker | None, initialise: bool
) -> str:
    """Compare the open store with the marker, and record what is true now; the store's id. Raises when the
    store is another than the marker records."""
    stored = await store.read(get_setting, STORE_ID)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if stored is None:
        # A new store, or one of a version before stores had ids: an existing store takes the marker's id.
        store_id = marker.store_id if marker is not None and not initialise else f"urn:uuid:{uuid.uuid4()}"
        await store.run(put_setting, STORE_ID, store_id)
        if marker is None or initialise:
            log.info("a new store was initialised", extra={"store": where, "store_id": store_id})
    elif marker is not None and stored != marker.store_id:
        raise ConnectorError(
            "store.mismatch",
            f"{where} is another store (id {stored}) than the one this node kept its state in (id "
            f"{marker.store_id}, recorded in {Marker.path(data_dir)}): point {key} at that store, or remove the "
            "marker file if this store is the node's",
            key,
        )
    else:
        store_id = stored
    if marker is None or marker.store_id != store_id or marker.store != where:
        Marker(store_id, participant_id, where, now).write(data_dir)
    return store_id


__all__ = ["MARKER", "Marker", "gone", "settle"]
