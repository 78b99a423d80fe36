"""Request bodies for tests and benches that must show how much of a body the server read."""
from __future__ import annotations

import io


class CountingBody(io.RawIOBase):
    """A request body of ``size`` bytes that counts what the server read of it."""

    def __init__(self, size: int):
        self.size, self.position, self.read_bytes = size, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client measures the stream's length by seeking
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: 0, 1: self.position, 2: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self.size - self.position))
        buffer[:n] = b"[" * n
        self.position += n
        self.read_bytes += n
        return n
