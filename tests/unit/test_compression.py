"""The stored-event compressor (engine/compression.py): what it writes reads back byte for
byte, plain JSON (every event stored before it) reads as is, and a state it does not know
is refused rather than guessed at."""
from __future__ import annotations

import json
import zlib

import pytest

from cartpath.engine.compression import EventCompressor, PlainEventWriter, UnknownEncoding
from cartpath.engine.settings import BadSetting, compressor_settings

EVENT = json.dumps({"timestamp": {"_type_": "datetime_iso", "_data_": "2026-12-02T22:10:56.536856+00:00"},
                    "node_id": "gw_consent", "kind": "exclusiveGateway", "flows": ["f_patient_consent__gw_consent"],
                    "at": {"_type_": "datetime_iso", "_data_": "2026-01-07T17:41:49.006999+00:00"},
                    "result": None}, separators=(",", ":")).encode()


def test_a_typical_event_shrinks_to_a_fraction_and_reads_back_exactly():
    packed = EventCompressor().compress(EVENT)
    assert packed[0] == 1 and len(packed) < len(EVENT) / 2
    assert EventCompressor().decompress(packed) == EVENT
    assert PlainEventWriter().decompress(packed) == EVENT  # "off" still reads what "on" wrote


def test_plain_json_is_read_as_is_and_off_writes_it():
    assert EventCompressor().decompress(EVENT) == EVENT
    assert PlainEventWriter().compress(EVENT) == EVENT


def test_what_would_not_shrink_is_kept_plain():
    tiny = b'{"n":1}'
    assert EventCompressor().compress(tiny) == tiny


def test_large_and_varied_states_round_trip():
    compressor = EventCompressor()
    big = json.dumps({"files": {"a.bpmn": "<x/>" * 50_000, "b": list(range(5000))}}).encode()
    unlike = json.dumps({"text": "é€😀" * 300, "bytes": bytes(range(256)).hex()}).encode()
    for state in (big, unlike, EVENT * 40):
        assert compressor.decompress(compressor.compress(state)) == state


def test_each_event_is_compressed_on_its_own():
    compressor = EventCompressor()
    first, second = compressor.compress(EVENT), compressor.compress(EVENT)
    assert first == second  # no state carried from one event to the next
    assert compressor.decompress(second) == EVENT


def test_unknown_or_damaged_states_are_refused():
    compressor = EventCompressor()
    with pytest.raises(UnknownEncoding, match="byte 120"):
        compressor.decompress(zlib.compress(EVENT))  # eventsourcing's plain zlib is not this format
    with pytest.raises(UnknownEncoding):
        compressor.decompress(b"")
    with pytest.raises(UnknownEncoding, match="truncated"):
        compressor.decompress(compressor.compress(EVENT)[:-5])


def test_the_setting_picks_the_writer_and_refuses_anything_else():
    assert compressor_settings({"CARTPATH_COMPRESSOR": ""})["COMPRESSOR_TOPIC"].endswith(":EventCompressor")
    assert compressor_settings({"CARTPATH_COMPRESSOR": "OFF"})["COMPRESSOR_TOPIC"].endswith(":PlainEventWriter")
    assert compressor_settings({"CARTPATH_COMPRESSOR": "on", "COMPRESSOR_TOPIC": "eventsourcing.compressor:"
                                "ZlibCompressor"}) == {}
    with pytest.raises(BadSetting, match="CARTPATH_COMPRESSOR"):
        compressor_settings({"CARTPATH_COMPRESSOR": "gzip"})


def test_a_large_state_written_with_the_small_event_settings_still_reads():
    """Snapshot-sized states are now deflated with the default hash tables and dynamic codes; one
    written before (fixed codes, small tables) is the same format and reads as it did."""
    from cartpath.engine.event_dictionary import DICTIONARY_V1
    state = EVENT * 40
    earlier = zlib.compressobj(9, zlib.DEFLATED, -12, 2, zlib.Z_FIXED, DICTIONARY_V1)
    packed = b"\x01" + earlier.compress(state) + earlier.flush()
    assert EventCompressor().decompress(packed) == state
    now = EventCompressor().compress(state)
    assert now != packed and len(now) < len(packed) and EventCompressor().decompress(now) == state
