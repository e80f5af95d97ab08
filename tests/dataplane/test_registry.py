from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from nodekit import in_fresh_process

from connector.errors import Problem
from connector.sources import (
    DataStream,
    SourceContext,
    SourceError,
    SourceKind,
    SourceRegistry,
    StreamInfo,
    build_source,
    default_registry,
    http_status_for,
    validate_source_config,
)
from connector.web.ranges import ByteRange


def test_the_default_registry_knows_file_http_and_sql() -> None:
    assert default_registry().kinds == ("file", "http", "sql")


def test_each_built_in_kind_is_named_as_its_module_names_it() -> None:
    import importlib

    for kind in default_registry().kinds:
        assert importlib.import_module(f"connector.sources.{kind}").KIND == kind


def test_a_kind_s_module_is_loaded_with_the_first_address_of_that_kind() -> None:
    probe = (
        "import json, sys; from connector.sources import validate_source_config as v; "
        "loaded = lambda: sorted(k for k in ('file', 'http', 'sql') if 'connector.sources.' + k in sys.modules); "
        "before = loaded(); problems = v({'type': 'sql', 'path': 'a.db'}); "
        "print(json.dumps([before, loaded(), [p.code for p in problems]]))"
    )
    before, after, codes = in_fresh_process(probe)
    assert (before, after) == ([], ["sql"])
    assert codes == ["source.config.unknown", "source.config.missing", "source.config.missing"]  # checked as before


@pytest.mark.parametrize(
    ("config", "code", "where"),
    [
        ([], "source.config.invalid", None),
        ({}, "source.config.missing", "type"),
        ({"type": "ftp"}, "source.config.unknown_type", "type"),
        ({"type": 3}, "source.config.unknown_type", "type"),
        ({"type": "file", "path": "a", "colour": "red"}, "source.config.unknown", "colour"),
        ({"type": "file", "path": "a", "root": "../x"}, "source.config.invalid", "root"),
        ({"type": "file"}, "source.config.missing", "path"),
        ({"type": "file", "path": "a", "mediaType": "text/csv\r\nX: y"}, "source.config.invalid", "mediaType"),
    ],
)
def test_bad_data_addresses_are_refused_naming_the_field(config: Any, code: str, where: str | None) -> None:
    problems = validate_source_config(config)
    assert (problems[0].code, problems[0].where) == (code, where)


def test_json_ld_keywords_in_a_data_address_are_tolerated() -> None:
    assert validate_source_config({"@type": "DataAddress", "type": "file", "path": "a/b.csv"}) == []


def test_build_reports_the_first_problem_and_lists_them_all() -> None:
    with pytest.raises(SourceError) as caught:
        build_source({"type": "sql", "sql": "x"}, SourceContext())
    assert caught.value.code == "source.config.unknown"
    assert len(caught.value.problem.details["problems"]) >= 3


def test_another_kind_can_be_registered_but_not_twice() -> None:
    class Constant:
        kind = "constant"
        seekable = False

        async def open(self, byte_range: ByteRange | None = None) -> DataStream:
            async def chunks() -> Any:
                yield b"hello"

            return DataStream(StreamInfo("text/plain", 5), chunks())

    def validate(config: Mapping[str, Any]) -> list[Problem]:
        return []

    registry = default_registry()
    kind = SourceKind("constant", validate, lambda config, context: Constant())
    registry.register(kind)
    assert registry.validate({"type": "constant"}) == []
    assert registry.build({"type": "constant"}, SourceContext()).kind == "constant"
    with pytest.raises(ValueError):
        registry.register(kind)
    assert SourceRegistry().kinds == ()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("source.range.unsatisfiable", 416),
        ("source.file.not_found", 404),
        ("source.http.status", 502),
        ("source.http.timeout", 504),
        ("source.file.symlink", 500),
        ("source.sql.not_read_only", 500),
    ],
)
def test_source_problems_map_to_response_statuses(code: str, status: int) -> None:
    assert http_status_for(Problem(code, "x")) == status


async def test_a_data_stream_closes_once_and_then_yields_nothing() -> None:
    released: list[int] = []

    async def chunks() -> Any:
        yield b"a"
        yield b"b"

    async def release() -> None:
        released.append(1)

    stream = DataStream(StreamInfo("text/plain"), chunks(), release)
    async with stream:
        assert await stream.__anext__() == b"a"
    await stream.aclose()
    assert released == [1] and stream.closed
    assert [c async for c in stream] == []


async def test_a_stream_never_started_still_releases_its_resources() -> None:
    released: list[int] = []

    async def chunks() -> Any:
        yield b"never"

    async def release() -> None:
        released.append(1)

    await DataStream(StreamInfo("text/plain"), chunks(), release).aclose()
    assert released == [1]
