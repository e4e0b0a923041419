"""File objects over one member of an uncompressed zip archive (a checkpoint file), so that
torch reads and writes its tensors there directly: no copy of the payload in memory."""

from __future__ import annotations

import io
import os
from typing import Any


def write_all(fd: int, data: Any) -> None:
    """Write every byte of ``data`` (any buffer) to ``fd``."""
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        done += os.write(fd, view[done:])


class Window(io.RawIOBase):
    """A read-only file over ``size`` bytes of ``fd`` from ``start`` (positional reads, so the
    descriptor's own offset is never moved)."""

    def __init__(self, fd: int, start: int, size: int) -> None:
        super().__init__()
        self.fd, self.start, self.size, self.pos = fd, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = max(0, min(len(view), self.size - self.pos))
        done = 0
        while done < wanted:
            got = os.preadv(self.fd, [view[done:wanted]], self.start + self.pos + done)
            if not got:
                break
            done += got
        self.pos += done
        return done


class Stream:
    """A member written by a function into a file object (``torch.save``), straight to the
    archive: no copy in memory; its size is filled in and its CRC computed (in ``pool``'s
    thread, in order, while the data is written) as the bytes go by."""

    def __init__(self, produce: Any) -> None:
        self.produce = produce

    def write(self, fd: int, pool: Any, parallel_bytes: int = 8 << 20) -> tuple[int, Any]:
        import zlib

        state = {"crc": 0, "size": 0}

        def crc(data: Any) -> int:
            state["crc"] = zlib.crc32(data, state["crc"])
            return state["crc"]

        class Sink(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, data: Any) -> int:
                # The caller may reuse its buffer once this returns: the CRC of a large
                # chunk runs beside the write, and both end before returning.
                view = memoryview(data).cast("B")
                if pool is not None and len(view) >= parallel_bytes:
                    pending = pool.submit(crc, view)
                    write_all(fd, view)
                    pending.result()
                else:
                    crc(view)
                    write_all(fd, view)
                state["size"] += len(view)
                return len(view)

        self.produce(Sink())
        return state["size"], state["crc"]
