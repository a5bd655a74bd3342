"""Silver into MySQL staging tables against a real MariaDB/MySQL server on 127.0.0.1.

The bulk path (LOAD DATA LOCAL INFILE) runs when the client setting and the server allow it; the batched path
is chosen with MYSQL_LOCAL_INFILE=off, a client flag of this process only (the server's settings stay as they are).
"""
from __future__ import annotations

import datetime as dt
import itertools
import threading

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.ids import PartitionKeyError
from orchestrator_assets.settings import mysql_settings
from orchestrator_assets.storage.local import LocalStorage
from orchestrator_assets.warehouse import mysql
from orchestrator_assets.warehouse.mysql import Layout, WarehouseError, bulk_refusal, layouts, load_partition

pytestmark = pytest.mark.xdist_group("mysql")
PARTITIONS = [("alice", "j1", 600), ("bob_2", "j-2", 400)]
_files = itertools.count()


@pytest.fixture(scope="module")
def silver(tmp_path_factory, spec):
    """Silver tables of two partitions, cleaned by pandas: {(user, job): {table: Arrow table}}."""
    store = LocalStorage(tmp_path_factory.mktemp("silver"))
    out = {}
    for user, job, rows in PARTITIONS:
        manifest, _ = write_bronze(store, generate(spec, rows, 5, user, job), user, job, rows)
        clean_partition(store, manifest, PandasEngine())
        out[(user, job)] = {t: read_silver(store, t, user, job) for t in manifest.tables}
    return out


@pytest.fixture(params=["bulk", "batched"])
def method(request, monkeypatch, gold_db):
    """Each path in turn: bulk as the server allows it (this machine's does), batched by the client setting."""
    if request.param == "batched":
        monkeypatch.setenv("MYSQL_LOCAL_INFILE", "off")
    return request.param


def parquet_files(tmp_path, tables: dict[str, pa.Table], row_group_size: int | None = None) -> dict:
    """The tables as Parquet files, as the Gold step hands them to the load."""
    out = {}
    for name, data in tables.items():
        path = tmp_path / f"{name}-{next(_files)}.parquet"
        pq.write_table(data, path, row_group_size=row_group_size)
        out[name] = path
    return out


@pytest.fixture
def load(silver, spec, tmp_path):
    def run(user, job, tables=None, table_layouts=None):
        files = parquet_files(tmp_path, tables or silver[(user, job)])
        return load_partition(mysql_settings(), user, job, files, table_layouts or layouts(spec))

    return run


def counts(mariadb, db, user, job) -> dict[str, int]:
    with mariadb.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (db,))
        out = {}
        for (name,) in cur.fetchall():
            cur.execute(f"SELECT count(*) FROM `{name}` WHERE pipeline_user = %s AND pipeline_job = %s", (user, job))
            out[name.removeprefix("silver_")] = cur.fetchone()[0]
        return out


def server_local_infile(mariadb) -> int:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.local_infile")
        return int(cur.fetchone()[0])


def test_loading_twice_replaces_the_partition(mariadb, gold_db, silver, load, method):
    expected = {t: data.num_rows for t, data in silver[("alice", "j1")].items()}
    report = load("alice", "j1")
    assert report.rows == expected
    assert report.method == method
    load("alice", "j1")
    assert counts(mariadb, gold_db, "alice", "j1") == expected


def test_two_partitions_load_in_parallel(mariadb, gold_db, silver, load, method):
    errors = []

    def run(user, job):
        try:
            load(user, job)
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(u, j)) for u, j, _ in PARTITIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for user, job, _ in PARTITIONS:
        assert counts(mariadb, gold_db, user, job) == {t: d.num_rows for t, d in silver[(user, job)].items()}


def test_values_round_trip_exactly(mariadb, gold_db, silver, load, method):
    load("alice", "j1")
    users = silver[("alice", "j1")]["users"]
    with mariadb.connect(gold_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM silver_users WHERE pipeline_user = 'alice' ORDER BY user_id")
        names = [d[0] for d in cur.description]
        got = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    assert got == users.sort_by("user_id").to_pylist()


def test_sql_significant_text_is_stored_verbatim(mariadb, gold_db, silver, load, method):
    nasty = ["O'Brien", 'say "hi"', "back\\slash", "x'; DROP TABLE silver_users; --", "100% _match_",
             "Zoë Łódź 東京 🙂", "tab\there"]
    products = silver[("alice", "j1")]["products"]
    names = products.column("name").to_pylist()
    names[:len(nasty)] = nasty
    changed = products.set_column(products.schema.get_field_index("name"), "name", pa.array(names, pa.string()))
    load("alice", "j1", {**silver[("alice", "j1")], "products": changed})
    with mariadb.connect(gold_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM silver_products WHERE pipeline_user = %s ORDER BY product_id", ("alice",))
        assert [r[0] for r in cur.fetchall()] == changed.sort_by("product_id").column("name").to_pylist()
        cur.execute("SELECT count(*) FROM silver_users")
        assert cur.fetchone()[0] > 0


@pytest.mark.parametrize("user, job", [("o'brien", "j1"), ("alice", "j1; DROP TABLE x"), ("Alice", "j1")])
def test_ids_that_could_reach_sql_are_refused(gold_db, silver, load, user, job):
    with pytest.raises(PartitionKeyError):
        load(user, job, silver[("alice", "j1")])


def test_a_value_too_long_fails_naming_the_column_and_keeps_the_previous_rows(mariadb, gold_db, silver, load,
                                                                               method):
    load("alice", "j1")
    before = counts(mariadb, gold_db, "alice", "j1")
    tables = dict(silver[("alice", "j1")])
    # locations (loaded before users) shrinks in this attempt: after the failure it must be whole again.
    tables["locations"] = tables["locations"].slice(0, 10)
    users = tables["users"]
    emails = pc.if_else(pc.equal(users.column("user_id"), users.column("user_id")[3]),
                        "x" * 300 + "@example.com", users.column("email"))
    tables["users"] = users.set_column(users.schema.get_field_index("email"), "email", emails)
    with pytest.raises(WarehouseError, match=r"silver_users .*column email, value 'xxxxxxxx") as failure:
        load("alice", "j1", tables)
    assert "nothing was changed" in str(failure.value)
    assert counts(mariadb, gold_db, "alice", "j1") == before


def test_a_wrong_password_is_a_clear_error(gold_db, load, monkeypatch):
    monkeypatch.setenv("MYSQL_PASSWORD", "not-the-password-123")
    with pytest.raises(WarehouseError, match="MYSQL_PASSWORD") as failure:
        load("alice", "j1")
    assert "not-the-password-123" not in str(failure.value)


NASTY_TEXT = ["tab\there", "new\nline", "cr\rlf\r\n", "back\\slash", "ends with \\", "\\N", "\\t not a tab", "NULL",
              "", None, "'single' \"double\" `back`", "emoji 🙂👩‍🔬 Zoë 東京", "nul\x00byte", "\t", "\n", " spaced "]
NASTY_LAYOUT = {"nasty": Layout({"text": "string", "email": "email"}, "id", ())}


def nasty_table(user: str, job: str) -> pa.Table:
    rows = len(NASTY_TEXT)
    # No -0.0: MySQL stores it as 0 whichever way it arrives.
    amounts = [0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 2.2250738585072014e-308,
               123456789012345.67, 2.0 ** 53 + 2, None, 9.999999999999999e-1, 0.0, 1e16, -2.5e-10, 42.0, 7.1]
    stamps = [dt.datetime(2024, 1, 2, 3, 4, 5, 123456), dt.datetime(1970, 1, 1), dt.datetime(2000, 2, 29, 0, 0, 0, 1),
              dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(1000, 1, 1, 0, 0, 0, 500000), None]
    days = [dt.date(1000, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29), None]
    return pa.table({
        "pipeline_user": [user] * rows, "pipeline_job": [job] * rows,
        "id": pa.array([2 ** 63 - 1, -(2 ** 63), 0, *range(1, rows - 2)], pa.int64()),
        "text": pa.array(NASTY_TEXT, pa.string()),
        "email": pa.array(["a\tb@x.org", "", None, "\\@\\", *[f"u{i}@x.org" for i in range(rows - 4)]], pa.string()),
        "amount": pa.array(amounts, pa.float64()),
        "flag": pa.array(([True, False, None] * rows)[:rows], pa.bool_()),
        "day": pa.array((days * rows)[:rows], pa.date32()),
        "at": pa.array((stamps * rows)[:rows], pa.timestamp("us")),
    })


def staged(mariadb, db, table: str, user: str) -> list[dict]:
    with mariadb.connect(db) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `silver_{table}` WHERE pipeline_user = %s ORDER BY id", (user,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def exact(rows: list[dict]) -> list[dict]:
    """Values with their Python type shown: a 0 that came back for False, or '' for None, would not compare equal."""
    return [{k: (type(v).__name__ if not isinstance(v, bool) else "int", repr(int(v) if isinstance(v, bool) else v))
             for k, v in row.items()} for row in rows]


def test_nasty_values_round_trip_exactly_on_both_paths(mariadb, gold_db, load, method):
    data = nasty_table("alice", "j1")
    report = load("alice", "j1", {"nasty": data}, NASTY_LAYOUT)
    assert (report.method, report.rows) == (method, {"nasty": data.num_rows})
    assert exact(staged(mariadb, gold_db, "nasty", "alice")) == exact(data.sort_by("id").to_pylist())


def test_the_bulk_path_is_taken_exactly_when_the_server_allows_it(mariadb, gold_db, load):
    allowed = server_local_infile(mariadb)
    report = load("alice", "j1")
    assert report.method == ("bulk" if allowed else "batched")
    assert report.fallback_reason == bulk_refusal(mysql_settings(), allowed)


def test_the_fallback_reasons_name_what_to_change(monkeypatch):
    assert bulk_refusal(mysql_settings(), 1) is None
    assert "local_infile=OFF" in bulk_refusal(mysql_settings(), 0)
    monkeypatch.setenv("MYSQL_LOCAL_INFILE", "off")
    assert bulk_refusal(mysql_settings(), 1) == "MYSQL_LOCAL_INFILE=off"


def test_a_server_refusing_the_local_file_falls_back_to_batched(mariadb, gold_db, load, monkeypatch):
    # A client that does not announce local files is refused by the server itself at LOAD time (as a server with
    # local_infile off would be), although the setting asks for bulk.
    plain = mysql._connect_args

    def without_local_files(settings):
        args = plain(settings)
        args.pop("allow_local_infile_in_path")
        return args

    monkeypatch.setattr(mysql, "_connect_args", without_local_files)
    data = nasty_table("alice", "j1")
    report = load("alice", "j1", {"nasty": data}, NASTY_LAYOUT)
    assert report.method == "batched"
    assert "refused LOAD DATA LOCAL INFILE" in report.fallback_reason
    assert exact(staged(mariadb, gold_db, "nasty", "alice")) == exact(data.sort_by("id").to_pylist())


def replace_value(data: pa.Table, column: str, row: int, value) -> pa.Table:
    values = data.column(column).to_pylist()
    values[row] = value
    return data.set_column(data.schema.get_field_index(column), column, pa.array(values, data.schema.field(column).type))


@pytest.mark.parametrize("column, value, shown", [("email", "é" * 256, "'éééé"), ("amount", float("nan"), "nan"),
                                                  ("amount", float("-inf"), "-inf")])
def test_a_value_that_does_not_fit_fails_in_a_later_chunk_naming_table_column_value_and_row(
        mariadb, gold_db, load, method, monkeypatch, column, value, shown):
    monkeypatch.setattr(mysql, "CHUNK_ROWS", 4)
    monkeypatch.setattr(mysql, "BATCH_ROWS", 4)
    load("alice", "j1", {"nasty": nasty_table("alice", "j1")}, NASTY_LAYOUT)
    before = staged(mariadb, gold_db, "nasty", "alice")
    bad = replace_value(nasty_table("alice", "j1"), column, 9, value)
    with pytest.raises(WarehouseError) as failure:
        load("alice", "j1", {"nasty": bad}, NASTY_LAYOUT)
    message = str(failure.value)
    assert "silver_nasty" in message and "nothing was changed" in message
    assert f"column {column}, value {shown}" in message and "(Silver row 10)" in message
    assert staged(mariadb, gold_db, "nasty", "alice") == before


def test_a_duplicate_key_fails_instead_of_being_skipped(mariadb, gold_db, load, method):
    load("alice", "j1", {"nasty": nasty_table("alice", "j1")}, NASTY_LAYOUT)
    before = staged(mariadb, gold_db, "nasty", "alice")
    twice = nasty_table("alice", "j1")
    twice = pa.concat_tables([twice, twice.slice(3, 1)])
    with pytest.raises(WarehouseError, match=r"silver_nasty.*Duplicate entry"):
        load("alice", "j1", {"nasty": twice}, NASTY_LAYOUT)
    assert staged(mariadb, gold_db, "nasty", "alice") == before


def test_the_load_streams_record_batches_and_leaves_no_temporary_file(mariadb, gold_db, silver, tmp_path, spec,
                                                                      monkeypatch):
    scratch = tmp_path / "scratch"
    monkeypatch.setattr(mysql, "SCRATCH_ROOT", scratch)
    monkeypatch.setattr(mysql, "CHUNK_ROWS", 64)
    written = []
    real_write = mysql.write_batch

    def counting(batch, out):
        written.append(batch.num_rows)
        assert out.name.startswith(str(scratch))
        real_write(batch, out)

    monkeypatch.setattr(mysql, "write_batch", counting)
    tables = silver[("alice", "j1")]
    files = parquet_files(tmp_path, tables, row_group_size=100)
    report = load_partition(mysql_settings(), "alice", "j1", files, layouts(spec))
    assert report.method == "bulk"
    assert max(written) <= 64 and sum(written) == sum(t.num_rows for t in tables.values())
    assert counts(mariadb, gold_db, "alice", "j1") == {t: d.num_rows for t, d in tables.items()}
    assert list(scratch.iterdir()) == []
    users = tables["users"]
    emails = pc.if_else(pc.equal(users.column("user_id"), users.column("user_id")[70]), "x" * 300 + "@example.com",
                        users.column("email"))
    files = parquet_files(tmp_path, {**tables, "users": users.set_column(users.schema.get_field_index("email"),
                                                                           "email", emails)})
    with pytest.raises(WarehouseError, match="email"):
        load_partition(mysql_settings(), "alice", "j1", files, layouts(spec))
    assert list(scratch.iterdir()) == []


def test_an_unknown_local_infile_setting_is_refused_naming_it(monkeypatch):
    from orchestrator_assets.settings import SettingsError

    monkeypatch.setenv("MYSQL_LOCAL_INFILE", "maybe")
    with pytest.raises(SettingsError, match="MYSQL_LOCAL_INFILE='maybe'"):
        mysql_settings()
