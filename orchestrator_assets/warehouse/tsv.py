"""Arrow record batches as the text `LOAD DATA` reads with its default field options: fields separated by tabs,
lines ended by newlines, nothing enclosing a field, backslash as the escape, `\\N` for NULL.

Every value is written by Arrow's own casts (no per-row Python), in a spelling MySQL parses back to the same
value: integers in decimal, doubles as the shortest string that round-trips, dates as YYYY-MM-DD, timestamps
with all six digits of microseconds, booleans as 1/0, text as UTF-8 with the field and line separators, the
escape itself and NUL escaped.
"""
from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

NULL = "\\N"
# The backslash first: the escapes added after it must not be escaped again.
ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\x00", "\\0"))


def escape(text: pa.Array) -> pa.Array:
    for plain, escaped in ESCAPES:
        text = pc.replace_substring(text, plain, escaped)
    return text


def column_text(name: str, values: pa.Array) -> pa.Array:
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = escape(values)
    elif pa.types.is_boolean(kind):
        text = pc.cast(pc.cast(values, pa.int8()), pa.string())
    elif (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_date32(kind)
          or (pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz is None)):
        text = pc.cast(values, pa.string())
    else:
        raise TypeError(f"column {name!r} has type {kind}, which has no LOAD DATA spelling here")
    return pc.fill_null(text, NULL)


def write_batch(batch: pa.RecordBatch, out: BinaryIO) -> None:
    """Write the batch's rows, in its column order, one line each."""
    if batch.num_rows == 0:
        return
    fields = [column_text(name, batch.column(name)) for name in batch.schema.names]
    # Fields joined by tabs, then each line joined with an empty string by a newline: the line plus "\n".
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, "\t"), "", "\n")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    # The string array's data buffer is the lines back to back, exactly the file's bytes.
    _, offsets, data = lines.buffers()
    width = 8 if pa.types.is_large_string(lines.type) else 4
    bounds = memoryview(offsets).cast("B")[lines.offset * width:(lines.offset + len(lines) + 1) * width]
    start, end = int.from_bytes(bounds[:width], "little"), int.from_bytes(bounds[-width:], "little")
    out.write(memoryview(data)[start:end])
