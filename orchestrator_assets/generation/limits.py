"""How big a job may get: every limit a spec and a job request are checked against, in one place.

Generation holds a job's tables in memory, so a spec that asks for too much must be refused before anything
is stored or allocated. docs/spec.md explains each limit.
"""
from __future__ import annotations

MAX_ROWS = 50_000_000  # rows of the anchor table a job may ask for
MAX_TABLE_ROWS = 100_000_000  # rows of any one table (children_of tables count max_children per parent)
MAX_BRONZE_BYTES = 64 * 2**30  # estimated Bronze JSON Lines of one job, all tables together
MAX_RATIO = 1_000.0  # rows.ratio: rows of a table per row of the table it scales with
MAX_CHILDREN = 1_000  # rows.max_children per parent row
MAX_POOL_SIZE = 200_000  # distinct values drawn from Faker for one column
POOL_SECONDS = 30.0  # time to build one Faker pool
POOL_VALUE_CHARS = 1_000  # characters of one Faker value

# Bytes one value takes in Bronze JSON, quotes included, by column type; measured on the built-in spec.
VALUE_BYTES = {"id": 8, "int": 6, "float": 9, "string": 20, "email": 32, "phone": 15, "date": 12,
               "timestamp": 21, "enum": 10}
# Per cell: the key's quotes, colon and comma; per row: braces and newline.
CELL_OVERHEAD_BYTES = 4
ROW_OVERHEAD_BYTES = 2
