"""Tideline's columnar files (.tlc, docs/formats/columnar.md) for the harness.

`read_tlc` turns a .tlc file (Tideline's `--format tlc` result) into a pyarrow Table;
`prepare_inputs` runs `tideline prepare` once per table, the untimed conversion that
mirrors the CSV -> Parquet conversion done for Kaskada and DuckDB.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa

MAGIC = b"TLCOLF01"
VERSION = 1

# Serialized type codes (docs/formats/columnar.md).
_INT_CODES = {1: pa.bool_(), 2: pa.int32(), 3: pa.int64(), 4: pa.uint32(), 5: pa.uint64(),
              9: pa.timestamp("ns"), 10: pa.duration("ns")}
_FLOAT_CODES = {6: pa.float32(), 7: pa.float64()}
_STRING, _DICT_STRING = 8, 11


class TlcError(ValueError):
    pass


def _string_array(n: int, validity, offsets: np.ndarray, chars: memoryview) -> pa.Array:
    if len(chars) < 2**31:
        return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(
            offsets.astype(np.int32)), pa.py_buffer(chars)])
    return pa.Array.from_buffers(pa.large_string(), n, [validity, pa.py_buffer(
        offsets.astype(np.int64)), pa.py_buffer(chars)])


def read_tlc(path: Path) -> pa.Table:
    data = memoryview(Path(path).read_bytes())
    if len(data) < 24 or bytes(data[:8]) != MAGIC:
        raise TlcError(f"{path}: not a Tideline columnar file")
    version, flags, dlen = struct.unpack_from("<IIQ", data, 8)
    if version != VERSION:
        raise TlcError(f"{path}: format version {version}, expected {VERSION}")
    pos = 24

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    def name() -> str:
        nonlocal pos
        (ln,) = take("H")
        s = bytes(data[pos:pos + ln]).decode()
        pos += ln
        return s

    (rows,) = take("Q")
    (ncols,) = take("I")
    for _ in range(3):  # time, key, subsort column names
        name()

    def buf(off: int, size: int) -> memoryview:
        if off + size > len(data):
            raise TlcError(f"{path}: buffer [{off}, +{size}) past the end")
        return data[off:off + size]

    names, arrays = [], []
    for _ in range(ncols):
        col = name()
        code, cflags = take("BB")
        validity = None
        if cflags & 1:
            off, size = take("QQ")
            validity = pa.py_buffer(buf(off, size))
        if code in _INT_CODES:
            off, size = take("QQ")
            values = np.frombuffer(buf(off, size), dtype="<i8")
            t = _INT_CODES[code]
            if t == pa.bool_():
                arr = pa.array(values != 0, mask=None)
                if validity is not None:
                    arr = pa.Array.from_buffers(pa.bool_(), rows,
                                                [validity, arr.buffers()[1]])
            elif t in (pa.int64(), pa.timestamp("ns"), pa.duration("ns")):
                arr = pa.Array.from_buffers(t, rows, [validity, pa.py_buffer(values)])
            else:
                arr = pa.Array.from_buffers(pa.int64(), rows,
                                            [validity, pa.py_buffer(values)]).cast(t)
        elif code in _FLOAT_CODES:
            off, size = take("QQ")
            arr = pa.Array.from_buffers(pa.float64(), rows, [validity, pa.py_buffer(
                buf(off, size))]).cast(_FLOAT_CODES[code])
        elif code == _STRING:
            (o_off, o_size), (c_off, c_size) = take("QQ"), take("QQ")
            offsets = np.frombuffer(buf(o_off, o_size), dtype="<u4")
            arr = _string_array(rows, validity, offsets, buf(c_off, c_size))
        elif code == _DICT_STRING:
            (i_off, i_size), (o_off, o_size), (c_off, c_size) = take("QQ"), take("QQ"), take("QQ")
            idx = np.frombuffer(buf(i_off, i_size), dtype="<u4")
            offsets = np.frombuffer(buf(o_off, o_size), dtype="<u4")
            dictionary = _string_array(len(offsets) - 1, None, offsets, buf(c_off, c_size))
            indices = pa.Array.from_buffers(pa.uint32(), rows, [validity, pa.py_buffer(idx)])
            arr = pa.DictionaryArray.from_arrays(indices, dictionary)
        else:
            raise TlcError(f"{path}: column {col!r}: unknown type code {code}")
        names.append(col)
        arrays.append(arr)
    if pos != 24 + dlen:
        raise TlcError(f"{path}: descriptor length mismatch")
    return pa.Table.from_arrays(arrays, names=names)


def prepare_inputs(binary: Path, data: Path, tables: dict[str, str]) -> dict[str, float]:
    """Converts <data>/<stem>.csv to <data>/<stem>.tlc with `binary prepare` for each
    {Fenl table name: stem}; returns the seconds each conversion took (not benchmarked).
    Always re-run (a few seconds at 10M events) so the files match the binary's format."""
    times = {}
    for table, stem in tables.items():
        src, dst = data / f"{stem}.csv", data / f"{stem}.tlc"
        cmd = [str(binary), "prepare", "--table", f"{table}={src.resolve()},time=time,key=user",
               "--out", str(dst.resolve())]
        import time
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"tideline prepare failed for {src}: {r.stderr.strip()}")
        times[stem] = time.perf_counter() - t0
    return times
