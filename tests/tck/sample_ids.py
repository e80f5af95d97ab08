"""The per-scenario ids of the TCK's sample configuration (TCK.md section 2), which the TCK profile seeds.

TP_C_01_05 is ATPC0104 in the sample (a typo for ATPC0105 that EDC's copy repeats); both are accepted in a
shipped properties file, and the scenario test uses the sample's value, as a TCK run with it would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

HTTP_PULL = "HttpData-PULL"

# Scenario groups: (major, number of scenarios).
CAT_GROUPS = ((1, 3),)
CN_GROUPS = ((1, 4), (2, 7), (3, 4))
CN_C_GROUPS = ((1, 4), (2, 6), (3, 6))
TP_GROUPS = ((1, 5), (2, 5), (3, 6))
TP_C_GROUPS = ((1, 5), (2, 5), (3, 6))
TP_C_01_05_ACCEPTED = frozenset({"ATPC0104", "ATPC0105"})

# Keys that tell the TCK how to reach a real node (per-scenario ids come on top).
CONNECTION_KEYS = (
    "dataspacetck.dsp.local.connector",
    "dataspacetck.dsp.connector.agent.id",
    "dataspacetck.dsp.connector.http.url",
    "dataspacetck.dsp.connector.http.base.url",
    "dataspacetck.dsp.connector.http.headers.authorization",
    "dataspacetck.dsp.connector.negotiation.initiate.url",
    "dataspacetck.dsp.connector.transfer.initiate.url",
    "dataspacetck.callback.address",
)


def _numbers(groups: Iterable[tuple[int, int]]) -> list[str]:
    return [f"{major:02d}_{minor:02d}" for major, count in groups for minor in range(1, count + 1)]


def _sample() -> dict[str, str]:
    ids: dict[str, str] = {}
    for number in _numbers(CAT_GROUPS):
        ids[f"CAT_{number}_DATASETID"] = "CAT" + number.replace("_", "")
    for number in _numbers(CN_GROUPS):
        dataset = "ACN" + number.replace("_", "")
        ids[f"CN_{number}_DATASETID"] = dataset
        ids[f"CN_{number}_OFFERID"] = f"CD123:{dataset}:456"
    for number in _numbers(CN_C_GROUPS):
        ids[f"CN_C_{number}_DATASETID"] = "ACNC" + number.replace("_", "")
    for number in _numbers(TP_GROUPS):
        ids[f"TP_{number}_AGREEMENTID"] = "ATP" + number.replace("_", "")
        ids[f"TP_{number}_FORMAT"] = HTTP_PULL
    for number in _numbers(TP_C_GROUPS):
        ids[f"TP_C_{number}_AGREEMENTID"] = "ATPC" + number.replace("_", "")
        ids[f"TP_C_{number}_FORMAT"] = HTTP_PULL
    ids["TP_C_01_05_AGREEMENTID"] = "ATPC0104"
    return ids


SAMPLE_IDS: Mapping[str, str] = _sample()
