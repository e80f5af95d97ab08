"""Log lines in text format: a full local timestamp with its UTC offset, and no fields without a value."""

import io
import logging
import re
from datetime import datetime

from connector.log import JsonFormatter, TextFormatter, local_timestamp

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2} ")


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("connector.access", logging.INFO, __file__, 1, "GET %s %s", ("/check/health", 200), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_text_line_starts_with_the_date_time_and_utc_offset():
    line = TextFormatter().format(_record(ms=1.5))
    assert STAMP.match(line), line
    assert line.endswith("access GET /check/health 200 ms=1.5"), line


def test_the_timestamp_is_the_records_instant_in_local_time_with_its_offset():
    created = 1_700_000_000.25
    stamp = local_timestamp(created)
    assert datetime.fromisoformat(stamp).timestamp() == created
    assert datetime.fromisoformat(stamp).utcoffset() == datetime.fromtimestamp(created).astimezone().utcoffset()


def test_fields_without_a_value_are_left_out_of_text_lines_but_kept_in_json():
    record = _record(peer=None, ms=2.0)
    assert "peer=" not in TextFormatter().format(record)
    assert '"peer": null' in JsonFormatter().format(record)


def test_a_logger_set_up_for_text_writes_such_lines():
    from connector.log import setup_logging

    root, connector = logging.getLogger(), logging.getLogger("connector")
    saved = (list(root.handlers), root.level, connector.level)
    stream = io.StringIO()
    setup_logging("info", "text", stream)
    try:
        logging.getLogger("connector.node").info("node started", extra={"participant_id": "did:web:x"})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        connector.setLevel(saved[2])
    line = stream.getvalue().strip()
    assert STAMP.match(line) and line.endswith("node node started participant_id=did:web:x"), line
