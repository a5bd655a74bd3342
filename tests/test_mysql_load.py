"""Silver into MySQL staging tables against a real MariaDB/MySQL server on 127.0.0.1."""
from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.ids import PartitionKeyError
from orchestrator_assets.settings import mysql_settings
from orchestrator_assets.storage.local import LocalStorage
from orchestrator_assets.warehouse.mysql import WarehouseError, layouts, load_partition

pytestmark = pytest.mark.xdist_group("mysql")
PARTITIONS = [("alice", "j1", 600), ("bob_2", "j-2", 400)]


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


def load(silver, spec, user, job, tables=None):
    return load_partition(mysql_settings(), user, job, tables or silver[(user, job)], layouts(spec))


def counts(mariadb, db, user, job) -> dict[str, int]:
    with mariadb.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (db,))
        out = {}
        for (name,) in cur.fetchall():
            cur.execute(f"SELECT count(*) FROM `{name}` WHERE pipeline_user = %s AND pipeline_job = %s", (user, job))
            out[name.removeprefix("silver_")] = cur.fetchone()[0]
        return out


def test_loading_twice_replaces_the_partition(mariadb, gold_db, silver, spec):
    expected = {t: data.num_rows for t, data in silver[("alice", "j1")].items()}
    report = load(silver, spec, "alice", "j1")
    assert report.rows == expected
    load(silver, spec, "alice", "j1")
    assert counts(mariadb, gold_db, "alice", "j1") == expected


def test_two_partitions_load_in_parallel(mariadb, gold_db, silver, spec):
    errors = []

    def run(user, job):
        try:
            load(silver, spec, user, job)
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


def test_values_round_trip_exactly(mariadb, gold_db, silver, spec):
    load(silver, spec, "alice", "j1")
    users = silver[("alice", "j1")]["users"]
    with mariadb.connect(gold_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM silver_users WHERE pipeline_user = 'alice' ORDER BY user_id")
        names = [d[0] for d in cur.description]
        got = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    assert got == users.sort_by("user_id").to_pylist()


def test_sql_significant_text_is_stored_verbatim(mariadb, gold_db, silver, spec):
    nasty = ["O'Brien", 'say "hi"', "back\\slash", "x'; DROP TABLE silver_users; --", "100% _match_",
             "Zoë Łódź 東京 🙂", "tab\there"]
    products = silver[("alice", "j1")]["products"]
    names = products.column("name").to_pylist()
    names[:len(nasty)] = nasty
    changed = products.set_column(products.schema.get_field_index("name"), "name", pa.array(names, pa.string()))
    load(silver, spec, "alice", "j1", {**silver[("alice", "j1")], "products": changed})
    with mariadb.connect(gold_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM silver_products WHERE pipeline_user = %s ORDER BY product_id", ("alice",))
        assert [r[0] for r in cur.fetchall()] == changed.sort_by("product_id").column("name").to_pylist()
        cur.execute("SELECT count(*) FROM silver_users")
        assert cur.fetchone()[0] > 0


@pytest.mark.parametrize("user, job", [("o'brien", "j1"), ("alice", "j1; DROP TABLE x"), ("Alice", "j1")])
def test_ids_that_could_reach_sql_are_refused(gold_db, silver, spec, user, job):
    with pytest.raises(PartitionKeyError):
        load(silver, spec, user, job, silver[("alice", "j1")])


def test_a_value_too_long_fails_naming_the_column_and_keeps_the_previous_rows(mariadb, gold_db, silver, spec):
    load(silver, spec, "alice", "j1")
    before = counts(mariadb, gold_db, "alice", "j1")
    tables = dict(silver[("alice", "j1")])
    # locations (loaded before users) shrinks in this attempt: after the failure it must be whole again.
    tables["locations"] = tables["locations"].slice(0, 10)
    users = tables["users"]
    emails = pc.if_else(pc.equal(users.column("user_id"), users.column("user_id")[3]),
                        "x" * 300 + "@example.com", users.column("email"))
    tables["users"] = users.set_column(users.schema.get_field_index("email"), "email", emails)
    with pytest.raises(WarehouseError, match=r"email") as failure:
        load(silver, spec, "alice", "j1", tables)
    assert "nothing was changed" in str(failure.value)
    assert counts(mariadb, gold_db, "alice", "j1") == before


def test_a_wrong_password_is_a_clear_error(gold_db, silver, spec, monkeypatch):
    monkeypatch.setenv("MYSQL_PASSWORD", "not-the-password-123")
    with pytest.raises(WarehouseError, match="MYSQL_PASSWORD") as failure:
        load(silver, spec, "alice", "j1")
    assert "not-the-password-123" not in str(failure.value)
