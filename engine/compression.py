"""Compact storage of events: deflate with a preset dictionary of typical cartpath events.

A stored event is a few hundred bytes of JSON whose keys, event shapes, task names and
time formats recur in every row; compressed one by one without help, deflate finds
little to reuse in so little text. Primed with a dictionary of typical events
(``event_dictionary.py``) it references them instead: about a quarter of the bytes.

The window is 4 KiB (wbits 12), and the primed (de)compressor is copied for each event:
priming a 32 KiB window costs more than compressing the event, and the events are far
smaller than the window anyway.

Format of a stored state (after the cipher, if any, has been removed):
- ``{...``: plain JSON. Every event written before compression came, and any event that
  compressing would not shrink; read as is, so old stores keep loading.
- ``\\x01`` + raw deflate (wbits 12) primed with ``DICTIONARY_V1``.
Any other first byte is refused (a state that is neither is not ours to guess at).

The hash chain (``chain.py``) covers the bytes as stored: an event is never rewritten, so
its link stays valid whatever this module's setting was when it was written, and the
chain's check needs neither this module nor the cipher key.

eventsourcing applies the compressor after transcoding and before the cipher
(``COMPRESSOR_TOPIC``); ``settings.compressor_settings`` picks the class from
CARTPATH_COMPRESSOR: ``on`` (default) compresses, ``off`` stores plain JSON and still
reads compressed events.
"""
from __future__ import annotations

import zlib
from typing import Any

from eventsourcing.persistence import Compressor

from .event_dictionary import DICTIONARY_V1

V1 = 1
_WBITS = -12  # raw deflate (no header, no checksum: the chain and the cipher guard the bytes), 4 KiB window
_LEVEL, _MEM_LEVEL = 9, 2  # small hash tables: cheap to copy, and the events are small
# A snapshot (the engine checkpoint in it: several KiB) takes the default hash tables and dynamic
# Huffman codes: half the time of the small-event settings on such a state, and a fifth fewer bytes;
# below this size the small settings are cheaper (measured on the engine bench's states)
_LARGE = 2048
PLAIN_START = ord("{")


class UnknownEncoding(ValueError):
    """A stored state this version of cartpath cannot read."""


class EventCompressor(Compressor):
    """Compresses what it writes; reads plain and compressed states alike."""

    compresses = True

    def __init__(self) -> None:
        # fixed Huffman codes: as small as per-event dynamic tables on states this short, and no table
        # to build when reading
        self._deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_FIXED, DICTIONARY_V1)
        self._deflate_large = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY_V1)
        self._inflate = zlib.decompressobj(_WBITS, zdict=DICTIONARY_V1)

    @property
    def inflater(self) -> Any:
        """The primed decompressor of a ``V1`` state (after its marker byte): copy it for each state.
        For a reader that inflates in its own loop (projections/log.py)."""
        return self._inflate

    def compress(self, data: bytes) -> bytes:
        deflate = (self._deflate if len(data) < _LARGE else self._deflate_large).copy()
        packed = b"\x01" + deflate.compress(data) + deflate.flush()
        if len(packed) >= len(data) and data[:1] == b"{":
            return data  # nothing gained: kept plain, which reads the same
        return packed

    def decompress(self, data: bytes) -> bytes:
        first = data[0] if data else -1
        if first == PLAIN_START:
            return data
        if first == V1:
            inflate = self._inflate.copy()
            out = inflate.decompress(memoryview(data)[1:])
            if not inflate.eof:
                raise UnknownEncoding("a stored event's compressed state is truncated")
            return out
        raise UnknownEncoding(f"a stored event's state starts with byte {first}: neither JSON nor a "
                              "compressed state this version of cartpath knows")


class PlainEventWriter(EventCompressor):
    """CARTPATH_COMPRESSOR=off: stores plain JSON, still reads what was stored compressed."""

    compresses = False

    def compress(self, data: bytes) -> bytes:
        return data


COMPRESSOR_TOPICS = {"on": "cartpath.engine.compression:EventCompressor",
                     "off": "cartpath.engine.compression:PlainEventWriter"}
