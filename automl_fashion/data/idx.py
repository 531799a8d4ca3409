"""Strict parser for the IDX format that Fashion-MNIST ships in.

An IDX file is: two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, one big-endian uint32 per dimension, then the values in C order.
Anything else is an :class:`IdxError` that names the file and what is wrong; a
truncated or padded file never turns into a silently wrong array.
"""

from __future__ import annotations

import struct

import numpy as np

from automl_fashion.errors import DataError

_UBYTE = 0x08


class IdxError(DataError):
    """An IDX file is malformed: wrong magic, wrong shape or wrong length."""


def parse_idx(
    raw: bytes,
    *,
    name: str,
    ndim: int,
    item_shape: tuple[int, ...] = (),
) -> np.ndarray:
    """Parse IDX bytes into a read-only uint8 array.

    Args:
        raw: The decompressed file content.
        name: File name used in error messages.
        ndim: Expected number of dimensions (1 for labels, 3 for images).
        item_shape: Expected shape of one item, e.g. ``(28, 28)``.
    """
    if len(raw) < 4:
        raise IdxError(f"{name}: {len(raw)} bytes is too short for an IDX header (need 4)")
    zero, type_code, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0:
        raise IdxError(
            f"{name}: wrong magic number 0x{raw[:4].hex()}: an IDX file starts with two zero "
            "bytes (is this an IDX file, or still gzip-compressed?)"
        )
    if type_code != _UBYTE:
        raise IdxError(f"{name}: type code 0x{type_code:02x}, expected 0x08 (unsigned byte)")
    if dims != ndim:
        raise IdxError(f"{name}: {dims} dimensions in the header, expected {ndim}")
    header_len = 4 + 4 * dims
    if len(raw) < header_len:
        raise IdxError(f"{name}: truncated header ({len(raw)} bytes, need {header_len})")
    shape = struct.unpack(f">{dims}I", raw[4:header_len])
    if item_shape and tuple(shape[1:]) != item_shape:
        raise IdxError(f"{name}: items of shape {tuple(shape[1:])}, expected {item_shape}")
    expected = int(np.prod(shape, dtype=np.int64))
    payload = len(raw) - header_len
    if payload != expected:
        what = "truncated" if payload < expected else "trailing bytes"
        raise IdxError(
            f"{name}: {what}: header promises {expected} values {tuple(shape)}, "
            f"file holds {payload}"
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape)
    return array
