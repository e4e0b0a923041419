"""The checkpoint file format: an uncompressed zip that is also a valid ``.npz``.

Members: ``{i}.npy`` per array (written straight from the array's memory), ``torch.pt`` for
torch tensors, ``{i}.pkl`` for other objects, and ``fexp.json`` with the tree that says where
each leaf goes plus the caller's metadata. Only bytes and files: no naming, no retention.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import pathlib
import pickle
import struct
import sys
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from . import _errors
from ._store import member_io

META_MEMBER = "fexp.json"
TORCH_MEMBER = "torch.pt"
FORMAT = "fexp-checkpoint"
FORMAT_VERSION = 1
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _torch_tensor_type() -> type | None:
    torch = sys.modules.get("torch")
    return getattr(torch, "Tensor", None) if torch is not None else None


def has_state(obj: Any) -> bool:
    return callable(getattr(obj, "state_dict", None)) and callable(
        getattr(obj, "load_state_dict", None)
    )


_JSON_KEY = (str, int, float, bool, type(None))


class Packer:
    """Turn a tree into a JSON description plus the arrays, tensors and pickles it refers to."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.tensor_type = _torch_tensor_type()
        self.arrays: list[Any] = []
        self.tensors: list[Any] = []
        self.pickles: list[bytes] = []

    def pack(self, obj: Any) -> dict[str, Any]:
        np = self.np
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, (bool, int, float, str)) and type(obj) in (bool, int, float, str):
            return {"t": type(obj).__name__, "v": obj}
        if isinstance(obj, bytes):
            return {"t": "bytes", "v": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind not in "OV":
            self.arrays.append(np.asarray(obj))
            return {"t": "array", "i": len(self.arrays) - 1, "s": isinstance(obj, np.generic)}
        if self.tensor_type is not None and isinstance(obj, self.tensor_type):
            self.tensors.append(obj)
            return {"t": "torch", "i": len(self.tensors) - 1}
        if isinstance(obj, Mapping) and all(type(k) in _JSON_KEY for k in obj):
            return {"t": "dict", "k": list(obj), "c": [self.pack(v) for v in obj.values()]}
        if type(obj) in (list, tuple):
            return {"t": type(obj).__name__, "c": [self.pack(v) for v in obj]}
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):
            return {"t": "tuple", "c": [self.pack(v) for v in obj]}
        if has_state(obj):
            name = f"{type(obj).__module__}.{type(obj).__qualname__}"
            return {"t": "state", "cls": name, "c": self.pack(obj.state_dict())}
        self.pickles.append(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        return {"t": "pickle", "i": len(self.pickles) - 1}


def _npy_member(array: Any) -> tuple[bytes, Any]:
    """The .npy header of ``array`` and a byte view of its data (copied only if strided)."""
    import numpy as np

    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    header = np.lib.format.header_data_from_array_1_0(array)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_2_0(buffer, header)
    data = array.T if header["fortran_order"] else array
    return buffer.getvalue(), data.reshape(-1).view(np.uint8)


_ZIP_LOCAL = struct.Struct("<IHHHHHIIIHH")
_ZIP_LOCAL64 = struct.Struct("<HHQQ")
_ZIP_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP_CENTRAL64 = struct.Struct("<HHQQQ")
_ZIP_END64 = struct.Struct("<IQHHIIQQQQ")
_ZIP_LOCATOR64 = struct.Struct("<IIQI")
_ZIP_END = struct.Struct("<IHHHHIIH")
_DOS_DATE = 0x21  # 1980-01-01: fixed, so equal trees give equal files.
_PARALLEL_BYTES = 8 << 20
_SYNC_EVERY = 16 << 20


class _BackgroundSync:
    """Flush a file being written from a second thread, so the final fsync has little left."""

    def __init__(self, fd: int) -> None:
        import threading

        self.fd = fd
        self.wake = threading.Event()
        self.done = False
        self.thread = threading.Thread(target=self._run, name="fexp-checkpoint-sync", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            if self.done:
                return
            with contextlib.suppress(OSError):
                os.fdatasync(self.fd)

    def kick(self) -> None:
        self.wake.set()

    def close(self) -> None:
        self.done = True
        self.wake.set()
        self.thread.join()


_write_all = member_io.write_all


def _member_size(head: bytes, data: Any) -> int:
    """A member's size (a stream's is unknown: counted as large)."""
    if isinstance(data, member_io.Stream):
        return _PARALLEL_BYTES
    return len(head) + memoryview(data).nbytes


def _write_zip(fd: int, members: Sequence[tuple[str, bytes, Any]]) -> None:
    """Write an uncompressed zip64 archive of ``(name, head, data)`` members to ``fd``.

    Each member's bytes are ``head + data`` and ``data`` goes to the kernel straight from its
    buffer. For large archives the CRCs are computed in a second thread (zlib releases the
    GIL) while the data is written, and a third thread starts flushing to disk early.
    """
    total = sum(_member_size(head, data) for _, head, data in members)
    pool = syncer = None
    if total >= _PARALLEL_BYTES:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1, thread_name_prefix="fexp-checkpoint-crc")
        syncer = _BackgroundSync(fd)
    try:
        entries, position, unsynced = [], 0, 0
        for name, head, data in members:
            raw = name.encode("utf-8")
            local = _ZIP_LOCAL.pack(
                0x04034B50, 45, 0, 0, 0, _DOS_DATE, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                len(raw), _ZIP_LOCAL64.size,
            )
            if isinstance(data, member_io.Stream):
                _write_all(fd, local + raw + _ZIP_LOCAL64.pack(1, 16, 0, 0))
                size, crc = data.write(fd, pool, _PARALLEL_BYTES)
                sizes = position + _ZIP_LOCAL.size + len(raw) + 4
                os.pwrite(fd, struct.pack("<QQ", size, size), sizes)
            else:
                size = len(head) + memoryview(data).nbytes
                crc = pool.submit(_crc, head, data) if pool is not None else _crc(head, data)
                _write_all(fd, local + raw + _ZIP_LOCAL64.pack(1, 16, size, size) + head)
                _write_all(fd, data)
            entries.append((raw, position, size, crc))
            position += _ZIP_LOCAL.size + len(raw) + _ZIP_LOCAL64.size + size
            unsynced += size
            if syncer is not None and unsynced >= _SYNC_EVERY:
                syncer.kick()
                unsynced = 0
        central = []
        for raw, offset, size, crc in entries:
            value = crc if isinstance(crc, int) else crc.result()
            os.pwrite(fd, struct.pack("<I", value), offset + 14)
            central.append(
                _ZIP_CENTRAL.pack(
                    0x02014B50, 45, 45, 0, 0, 0, _DOS_DATE, value, 0xFFFFFFFF, 0xFFFFFFFF,
                    len(raw), _ZIP_CENTRAL64.size, 0, 0, 0, 0, 0xFFFFFFFF,
                )
                + raw
                + _ZIP_CENTRAL64.pack(1, 24, size, size, offset)
            )
        directory = b"".join(central)
        count = len(entries)
        _write_all(
            fd,
            directory
            + _ZIP_END64.pack(0x06064B50, 44, 45, 45, 0, 0, count, count, len(directory), position)
            + _ZIP_LOCATOR64.pack(0x07064B50, 0, position + len(directory), 1)
            + _ZIP_END.pack(
                0x06054B50, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                0xFFFFFFFF, 0xFFFFFFFF, 0,
            ),
        )
    finally:
        if syncer is not None:
            syncer.close()
        if pool is not None:
            pool.shutdown()


def _crc(head: bytes, data: Any) -> int:
    import zlib

    return zlib.crc32(data, zlib.crc32(head))


def write(path: pathlib.Path, target: Any, meta: Mapping[str, Any]) -> None:
    """Write ``target`` and ``meta`` to the new file ``path`` and fsync it."""
    packer = Packer()
    tree = packer.pack(target)
    head = {"format": FORMAT, "version": FORMAT_VERSION, "tree": tree, **meta}
    members: list[tuple[str, bytes, Any]] = [
        (f"{i}.npy", *_npy_member(array)) for i, array in enumerate(packer.arrays)
    ]
    if packer.tensors:
        import torch

        tensors = dict(enumerate(packer.tensors))
        stream = member_io.Stream(lambda sink: torch.save(tensors, sink))
        members.append((TORCH_MEMBER, b"", stream))
    members.extend((f"{i}.pkl", b"", blob) for i, blob in enumerate(packer.pickles))
    members.append((META_MEMBER, b"", json.dumps(head, separators=(",", ":")).encode("utf-8")))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        _write_zip(fd, members)
        os.fsync(fd)
    finally:
        os.close(fd)


class Reader:
    """Random access to one checkpoint file: its meta, arrays, tensors and pickles."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.handle = open(path, "rb", buffering=0)  # closed by close()
        try:
            self.zip = zipfile.ZipFile(self.handle)
            meta = json.loads(self.zip.read(META_MEMBER))
            if meta.get("format") != FORMAT:
                raise ValueError("not an fexp checkpoint")
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            self.handle.close()
            raise _errors.ExperimentStateError(
                f"checkpoint file cannot be read ({exc}); delete it or restore another step",
                source=str(path),
            ) from None
        self.meta: dict[str, Any] = meta
        self._tensors: dict[int, Any] | None = None

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def array(self, index: int) -> Any:
        import numpy as np

        info = self.zip.getinfo(f"{index}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            with self.zip.open(info) as member:
                return np.lib.format.read_array(member, allow_pickle=False)
        self.handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(self.handle.read(_LOCAL_HEADER.size))
        self.handle.seek(info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
        version = np.lib.format.read_magic(self.handle)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(self.handle)
        if fortran:
            array = np.empty(shape[::-1], dtype=dtype).T
            flat = array.T.reshape(-1).view(np.uint8)
        else:
            array = np.empty(shape, dtype=dtype)
            flat = array.reshape(-1).view(np.uint8)
        view, done = memoryview(flat), 0
        while done < len(view):
            got = self.handle.readinto(view[done:])
            if not got:
                raise _errors.ExperimentStateError(
                    f"array {index} is truncated", source=str(self.path)
                )
            done += got
        return array

    def _member_data(self, name: str) -> tuple[int, int]:
        """The offset and size of a stored member's bytes in the file."""
        info = self.zip.getinfo(name)
        self.handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(self.handle.read(_LOCAL_HEADER.size))
        return info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1], info.file_size

    def tensor(self, index: int) -> Any:
        if self._tensors is None:
            import torch

            info = self.zip.getinfo(TORCH_MEMBER)
            if info.compress_type != zipfile.ZIP_STORED:
                source: Any = io.BytesIO(self.zip.read(TORCH_MEMBER))
            else:
                # torch reads the stored member in place, straight into its tensors' memory.
                where = self._member_data(TORCH_MEMBER)
                source = member_io.Window(self.handle.fileno(), *where)
            self._tensors = torch.load(source, map_location="cpu", weights_only=True)
        return self._tensors[index]

    def pickled(self, index: int) -> Any:
        return pickle.loads(self.zip.read(f"{index}.pkl"))


def unpack(node: Mapping[str, Any], target: Any, reader: Reader) -> Any:
    """Rebuild the tree ``node`` describes; ``target`` objects with load_state_dict are filled."""
    kind = node["t"]
    if kind in ("none", "bool", "int", "float", "str"):
        return node.get("v")
    if kind == "bytes":
        return base64.b64decode(node["v"])
    if kind == "array":
        array = reader.array(node["i"])
        return array[()] if node.get("s") else array
    if kind == "torch":
        return reader.tensor(node["i"])
    if kind == "pickle":
        return reader.pickled(node["i"])
    if kind == "state":
        state = unpack(node["c"], None, reader)
        if has_state(target):
            target.load_state_dict(state)
            return target
        return state
    if kind == "dict":
        if has_state(target) and not isinstance(target, Mapping):
            target.load_state_dict(unpack(node, None, reader))
            return target
        sub = target if isinstance(target, Mapping) else {}
        return {
            key: unpack(child, sub.get(key), reader)
            for key, child in zip(node["k"], node["c"], strict=True)
        }
    children = node["c"]
    subs = list(target) if isinstance(target, (list, tuple)) else []
    subs = subs if len(subs) == len(children) else [None] * len(children)
    items = [unpack(child, sub, reader) for child, sub in zip(children, subs, strict=True)]
    if kind == "list":
        return items
    if isinstance(target, tuple) and hasattr(target, "_fields") and len(subs) == len(items):
        return type(target)(*items)
    return tuple(items)
