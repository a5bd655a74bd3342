import hashlib
import json
import re
from datetime import UTC

import dateutil.parser
import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from babel.numbers import parse_decimal
from email_validator import EmailNotValidError, validate_email

from orchestrator_assets.ai.planner import COUNTRIES
from orchestrator_assets.generation.bronze import BronzeExistsError, read_ledger, write_bronze
from orchestrator_assets.generation.dirty import as_text
from orchestrator_assets.generation.generator import ROW_LEVEL, generate
from orchestrator_assets.generation.phones import pool as phone_pool
from orchestrator_assets.generation.spec import ColumnType, ForeignKey, parse_spec
from orchestrator_assets.generation.values import deliverable_email
from orchestrator_assets.storage.local import LocalStorage


def _digests(store):
    return {k: hashlib.sha256(store.get_bytes(k)).hexdigest() for k in store.list("bronze")}


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_same_inputs_give_byte_identical_bronze(tmp_path, spec, compression):
    a, b = LocalStorage(tmp_path / "a"), LocalStorage(tmp_path / "b")
    for store in (a, b):
        write_bronze(store, generate(spec, 500, 3, "bob", "j1"), "bob", "j1", 500, compression)
    assert _digests(a) == _digests(b)
    assert len(_digests(a)) == len(spec.tables) + 2  # parts, ledger, manifest


def test_different_seed_user_or_job_changes_data(spec):
    base = generate(spec, 300, 1, "u", "j").tables["orders"].clean
    for args in [(2, "u", "j"), (1, "v", "j"), (1, "u", "k")]:
        assert not generate(spec, 300, *args).tables["orders"].clean.equals(base)


def test_clean_data_has_referential_integrity(small_dataset):
    ds = small_dataset
    for name, gen in ds.tables.items():
        table = ds.spec.tables[name]
        keys = gen.clean.column(table.primary_key).to_numpy()
        assert len(np.unique(keys)) == len(keys), name
        for cname, col in table.columns.items():
            if isinstance(col.source, ForeignKey) and col.emit:
                parent = ds.spec.tables[col.source.table]
                parent_keys = ds.tables[col.source.table].clean.column(parent.primary_key)
                refs = gen.clean.column(cname).drop_null()
                assert pc.all(pc.is_in(refs, value_set=parent_keys.combine_chunks())).as_py(), f"{name}.{cname}"


def test_derived_values_are_consistent(small_dataset):
    t = small_dataset.tables
    items = t["order_items"].clean.to_pandas()
    orders = t["orders"].clean.to_pandas().set_index("order_id")
    assert np.allclose(items.line_amount, (items.quantity * items.unit_price).round(2))
    totals = items.groupby("order_id").line_amount.sum().round(2)
    assert np.allclose(orders.loc[totals.index, "total_amount"], totals)
    payments = t["payments"].clean.to_pandas()
    assert np.allclose(payments.amount, orders.loc[payments.order_id, "total_amount"].to_numpy())
    assert (t["users"].clean.to_pandas().age.between(13, 120)).all()


def test_error_rate_per_table_is_within_tolerance(small_dataset):
    ledger = small_dataset.ledger.to_pandas()
    for name, gen in small_dataset.tables.items():
        n = gen.clean.num_rows
        if n < 500:
            continue
        dirty_rows = ledger[ledger.table == name].row_key.nunique()
        assert abs(dirty_rows / n - 0.3) < 0.02, (name, dirty_rows / n)


def test_error_rate_is_configurable(spec):
    quiet = spec.model_copy(update={"error_rate": 0.05})
    ds = generate(quiet, 2000, 1, "u", "j")
    orders = ds.ledger.filter(pc.equal(ds.ledger.column("table"), "orders"))
    assert abs(len(set(orders.column("row_key").to_pylist())) / 2000 - 0.05) < 0.01


def test_every_injected_kind_appears(small_dataset):
    kinds = set(small_dataset.ledger.column("error_kind").to_pylist())
    declared = {k.value for t in small_dataset.spec.tables.values() for c in t.columns.values() for k in c.errors}
    declared |= {k for t in small_dataset.spec.tables.values() for k in t.row_errors}
    assert declared == kinds
    assert len(kinds) >= 15


def _json_value(value, ctype):
    """The JSON a clean value is written as."""
    if value is None:
        return None
    if ctype in (ColumnType.timestamp, ColumnType.date):
        return str(value)
    return value


def test_ledger_lists_exactly_the_cells_that_differ_from_clean(bronze_store, small_dataset):
    store, manifest = bronze_store
    ledger = read_ledger(store, manifest).to_pandas()
    for name, gen in small_dataset.tables.items():
        table = small_dataset.spec.tables[name]
        lines = b"".join(store.get_bytes(p["key"]) for p in manifest.tables[name]["parts"]).splitlines()
        records = [json.loads(line) for line in lines]
        assert len(records) == gen.bronze_rows
        clean_cols = {c: as_text(gen.clean.column(c).combine_chunks(), table.columns[c].type).to_pylist()
                      for c in gen.clean.column_names}
        raw_cols = {c: gen.clean.column(c).to_pylist() for c in gen.clean.column_names}
        found = set()
        for i, rec in enumerate(records[: gen.clean.num_rows]):
            for c, col in table.columns.items():
                if not col.emit:
                    continue
                ctype = col.type
                numeric = ctype in (ColumnType.id, ColumnType.int, ColumnType.float)
                expected = raw_cols[c][i] if numeric else clean_cols[c][i]
                if rec[c] != expected or (numeric and isinstance(rec[c], str)):
                    found.add((rec[table.primary_key] if c != table.primary_key else i + 1, c))
        cells = ledger[(ledger.table == name) & (ledger.column != ROW_LEVEL)]
        assert found == set(zip(cells.row_key, cells.column)), name
        dups = ledger[(ledger.table == name) & (ledger.column == ROW_LEVEL)]
        assert len(dups) == gen.bronze_rows - gen.clean.num_rows
        assert sorted(dups.bronze_row) == list(range(gen.clean.num_rows, gen.bronze_rows))


def test_bronze_is_read_only_once_written(tmp_path, spec):
    store = LocalStorage(tmp_path)
    ds = generate(spec, 200, 1, "u", "j")
    _, written = write_bronze(store, ds, "u", "j", 200)
    before = _digests(store)
    _, again = write_bronze(store, ds, "u", "j", 200)
    assert written and not again and _digests(store) == before
    with pytest.raises(BronzeExistsError, match="read-only"):
        write_bronze(store, generate(spec, 200, 2, "u", "j"), "u", "j", 200)
    assert _digests(store) == before


def test_generation_rejects_empty_jobs(spec):
    with pytest.raises(ValueError, match="at least 1"):
        generate(spec, 0, 1, "u", "j")


# ---- clean values pass the oracles; the real-world dirt has the promised shape ---------------------------
@pytest.fixture(scope="module")
def big_dataset(spec):
    return generate(spec, 20_000, 5, "oracle", "j")


@pytest.fixture(scope="module")
def german_dataset(spec):
    data = spec.model_dump(mode="json")
    data.update(default_phone_region="DE", locale="de_DE")
    data["tables"]["users"]["columns"]["phone"]["source"]["country_code"] = 49
    return generate(parse_spec(data), 20_000, 5, "oracle", "de")


def _invalid_phones(values, region):
    bad = []
    for text in set(values) - {None}:
        number = phonenumbers.parse(text)
        if (not phonenumbers.is_valid_number(number) or phonenumbers.region_code_for_number(number) != region
                or phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != text):
            bad.append(text)
    return bad


def _invalid_emails(values):
    bad = []
    for text in set(values) - {None}:
        try:
            normalized = validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            normalized = None
        if normalized != text:
            bad.append(text)
    return bad


@pytest.mark.parametrize("name, region", [("big_dataset", "US"), ("german_dataset", "DE")])
def test_clean_phones_and_emails_pass_the_oracles(request, name, region):
    users = request.getfixturevalue(name).tables["users"].clean
    phones = users.column("phone").to_pylist()
    assert len(set(phones)) > 0.8 * len(phones)
    assert _invalid_phones(phones, region) == []
    emails = users.column("email").to_pylist()
    assert _invalid_emails(emails) == []
    idn = [e for e in emails if not e.isascii()]
    assert 0.03 < len(idn) / len(emails) < 0.15  # bücher.de and müller.de: 8 of 100 weight


def test_pools_give_valid_numbers_of_every_planner_country():
    for region in sorted(COUNTRIES):
        numbers = phone_pool(region).to_pylist()
        assert len(set(numbers)) == len(numbers) == 10_000
        assert _invalid_phones(numbers, region) == [], region


def test_email_template_folds_names_to_deliverable_addresses():
    names = pa.array(["José.Müller-Lüdenscheidt1@gmx.de", "Seán.O'Brien2@Bücher.de", "..Groß..3@web.de",
                      "李.王4@gmail.com", "Ann Marie.Lee5@aol.com"])
    out = deliverable_email(names).to_pylist()
    assert out == ["jose.muller-ludenscheidt1@gmx.de", "sean.obrien2@bücher.de", "gross.3@web.de",
                   "4@gmail.com", "annmarie.lee5@aol.com"]
    assert _invalid_emails(out) == []


def test_timestamps_follow_each_other(big_dataset):
    t = {name: gen.clean.to_pandas() for name, gen in big_dataset.tables.items()}
    orders, users = t["orders"].set_index("order_id"), t["users"].set_index("user_id")
    assert (orders.updated_at >= orders.ordered_at).all()
    assert (users.updated_at >= users.signup_at).all()
    assert (orders.ordered_at >= users.loc[orders.user_id, "signup_at"].to_numpy()).all()
    for child, column in [("payments", "paid_at"), ("shipments", "shipped_at")]:
        placed = orders.loc[t[child].order_id, "ordered_at"].to_numpy()
        assert (t[child][column].to_numpy() >= placed).all(), child
    shipments = t["shipments"].dropna(subset=["delivered_at"])
    assert (shipments.delivered_at >= shipments.shipped_at).all()
    items = t["order_items"]
    created = t["products"].set_index("product_id").loc[items.product_id, "created_at"].to_numpy()
    assert (created <= orders.loc[items.order_id, "ordered_at"].to_numpy()).all()


NEW_KINDS = ["locale_decimal", "currency_code", "trunk_prefix", "phone_extension", "iso_offset", "date_only",
             "named_month", "email_dots", "idn_email"]


def _entries(ds, kind):
    rows = [e for e in ds.ledger.to_pylist() if e["error_kind"] == kind]
    assert len(rows) >= 10, (kind, len(rows))
    return rows


def _number(text: str, decimal: str) -> float:
    digits = re.sub(r"[^\d" + re.escape(decimal) + "-]", "", text)
    return float(digits.replace(decimal, "."))


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_every_new_kind_has_the_promised_shape(big_dataset, kind):
    for e in _entries(big_dataset, kind):
        clean, dirty, expected = e["clean_value"], e["dirty_value"], e["expected_value"]
        assert dirty != clean
        assert expected == (None if kind == "email_dots" else clean[:10] + " 00:00:00" if kind == "date_only"
                            else clean), e
        _check_shape(kind, clean, dirty, "US", "USD", "$", ".")


@pytest.mark.parametrize("kind", ["locale_decimal", "currency_code", "trunk_prefix", "phone_extension",
                                  "phone_format", "malformed_phone", "date_format", "number_as_string"])
def test_german_dirt_follows_the_german_conventions(german_dataset, kind):
    for e in _entries(german_dataset, kind):
        _check_shape(kind, e["clean_value"], e["dirty_value"], "DE", "EUR", "€", ",")


def _check_shape(kind, clean, dirty, region, code, symbol, decimal):
    if kind == "locale_decimal":
        assert re.fullmatch(r"-?\d{1,3}([. \u00a0\u202f]?\d{3})*,(\d\d|\d{4,})", dirty), dirty
        assert _number(dirty, ",") == float(clean), dirty
        if re.fullmatch(r"[\d.]+,\d+", dirty):  # Babel's own reading of the German notation agrees
            assert float(parse_decimal(dirty, locale="de_DE", strict=True)) == float(clean), dirty
    elif kind in ("currency_code", "number_as_string"):
        number = re.sub(rf"^({code} |{re.escape(symbol)})|( {code}|{re.escape(symbol)})$", "", dirty.strip())
        assert re.fullmatch(r"-?\d+([.,](\d\d|\d{4,}))?", number), dirty  # never a 3-digit fraction
        assert float(number.replace(",", ".")) == float(clean), dirty
        if kind == "currency_code":
            assert number != dirty and (decimal in number or "." not in number and "," not in number), dirty
    elif kind in ("trunk_prefix", "phone_extension", "phone_format"):
        number = phonenumbers.parse(dirty, region)
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == clean, dirty
        if kind == "trunk_prefix":
            assert "(0)" in dirty or dirty.startswith("0" if region == "DE" else "1 "), dirty
        if kind == "phone_extension":
            assert re.search(r"( ext\.? | x|;ext=)\d+$", dirty) and number.extension, dirty
    elif kind == "malformed_phone":
        try:
            assert not phonenumbers.is_valid_number(phonenumbers.parse(dirty, region)), dirty
        except phonenumbers.NumberParseException:
            pass
    elif kind == "iso_offset":
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:?\d\d", dirty), dirty
        instant = dateutil.parser.isoparse(dirty)
        assert instant.utcoffset().total_seconds() != 0
        assert instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") == clean, dirty
    elif kind == "date_only":
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", dirty) and clean.startswith(dirty), dirty
    elif kind == "named_month":
        assert re.search(r"[A-Z][a-z]{2}", dirty), dirty
        assert dateutil.parser.parse(dirty).strftime("%Y-%m-%d %H:%M:%S") == clean, dirty
    elif kind == "email_dots":
        with pytest.raises(EmailNotValidError):
            validate_email(dirty, check_deliverability=False)
        assert dirty.replace("..", ".").strip(".").replace(".@", "@") == clean, dirty
    elif kind == "idn_email":
        assert not clean.split("@")[1].isascii()
        assert validate_email(dirty, check_deliverability=False).normalized.lower() == clean, dirty
    elif kind == "date_format":
        day_first = decimal == "," and not re.match(r"\d{4}", dirty)  # Y/M/D stays year first
        assert dateutil.parser.parse(dirty.replace("Z", ""), dayfirst=day_first).strftime(
            "%Y-%m-%d %H:%M:%S") == clean, dirty
    else:
        raise AssertionError(kind)


def test_the_built_in_spec_injects_every_new_kind(spec):
    declared = {k.value for t in spec.tables.values() for c in t.columns.values() for k in c.errors}
    assert set(NEW_KINDS) <= declared


def test_new_kinds_are_deterministic(spec):
    a, b = (generate(spec, 2_000, 9, "u", "j").ledger for _ in range(2))
    assert a.equals(b)
    assert set(NEW_KINDS) <= set(a.column("error_kind").to_pylist())


def test_streamed_bronze_is_byte_identical_to_the_in_memory_dataset(spec, tmp_path):
    """Bronze written table by table from the stream equals Bronze written from the whole dataset, part for part."""
    from orchestrator_assets.generation.generator import stream

    whole, _ = write_bronze(LocalStorage(tmp_path / "whole"), generate(spec, 2_000, 5, "u", "j"), "u", "j", 2_000)
    streamed, _ = write_bronze(LocalStorage(tmp_path / "stream"), stream(spec, 2_000, 5, "u", "j"), "u", "j", 2_000)
    assert streamed.data == whole.data
    assert list(streamed.tables) == list(spec.tables)
    again, _ = write_bronze(LocalStorage(tmp_path / "again"), stream(spec, 2_000, 5, "u", "j"), "u", "j", 2_000)
    assert again.data["ledger"]["sha256"] == streamed.data["ledger"]["sha256"]


def test_stream_drops_a_table_once_no_later_column_reads_it(spec, monkeypatch):
    """While the stream runs, columns of finished tables are kept only if a table still to come looks them up."""
    from orchestrator_assets.generation import generator

    seen = []
    real = generator._inject

    def spy(spec_, gen, ctx, *args):
        seen.append({t for t, _ in ctx.values})
        return real(spec_, gen, ctx, *args)

    monkeypatch.setattr(generator, "_inject", spy)
    names = [gen.name for gen, _ in generator.stream(spec, 500, 1, "u", "j").pieces()]
    # The last table is made while holding columns of at most the tables it or later ones read, not all of them.
    assert len(seen[-1]) < len(names)
    assert sorted(names) == sorted(spec.tables)


# ---- tables made in blocks: the output does not depend on how it is read ---------------------------------
@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 1,000 rows, so a 3,500-order job spans several blocks in every large table."""
    from orchestrator_assets.generation import blocks

    monkeypatch.setattr(blocks, "BLOCK_ROWS", 1_000)


def _lines(store, manifest, table):
    return b"".join(store.get_bytes(p["key"]) for p in manifest.tables[table]["parts"]).splitlines()


def test_blocks_give_the_same_bronze_whatever_chunks_it_is_written_in(small_blocks, spec, tmp_path, monkeypatch):
    from orchestrator_assets.generation import bronze
    from orchestrator_assets.generation.generator import stream

    written = {}
    for name, part_rows, make in [("whole", 1_000_000, generate), ("blocks", 1_000, stream), ("odd", 700, stream)]:
        monkeypatch.setattr(bronze, "ROWS_PER_PART", part_rows)
        store = LocalStorage(tmp_path / name)
        manifest, _ = write_bronze(store, make(spec, 3_500, 5, "u", "j"), "u", "j", 3_500)
        written[name] = (store, manifest)
    whole_store, whole = written["whole"]
    assert whole.tables["orders"]["rows"] > 3_500 and len(whole.tables["orders"]["parts"]) == 1
    for name in ("blocks", "odd"):
        store, manifest = written[name]
        assert len(manifest.tables["orders"]["parts"]) >= 4, name
        for table in spec.tables:
            assert _lines(store, manifest, table) == _lines(whole_store, whole, table), (name, table)
        assert read_ledger(store, manifest).equals(read_ledger(whole_store, whole)), name
    # Same blocks, same part size: the very same files, ledger included.
    assert written["blocks"][1].data["ledger"]["sha256"] == written["odd"][1].data["ledger"]["sha256"]


def test_errors_of_every_block_point_at_their_bronze_line(small_blocks, spec, tmp_path):
    """Ledger rows count over the whole table, duplicates follow the last block, and the rate holds per table."""
    store = LocalStorage(tmp_path)
    ds = generate(spec, 3_500, 5, "u", "j")
    manifest, _ = write_bronze(store, ds, "u", "j", 3_500)
    ledger = read_ledger(store, manifest).to_pandas()
    for name, gen in ds.tables.items():
        table = spec.tables[name]
        records = [json.loads(line) for line in _lines(store, manifest, name)]
        entries = ledger[ledger.table == name]
        for e in entries[entries.column != ROW_LEVEL].itertuples():
            rec = records[e.bronze_row]
            if e.column != table.primary_key:
                assert rec[table.primary_key] == e.row_key, (name, e)
            if isinstance(rec[e.column], str):
                assert rec[e.column] == e.dirty_value, (name, e)
        dups = entries[entries.column == ROW_LEVEL]
        assert sorted(dups.bronze_row) == list(range(gen.clean.num_rows, gen.bronze_rows)), name
        for e in dups.itertuples():
            assert records[e.bronze_row][table.primary_key] == e.row_key, (name, e)
        if gen.clean.num_rows > 3_000:  # several blocks: still 30% of the table's rows carry an error
            assert abs(entries.row_key.nunique() / gen.clean.num_rows - 0.3) < 0.02, name
    kinds = set(ledger.error_kind)
    assert {"exact_duplicate", "near_duplicate", "orphan_fk", "idn_email"} <= kinds


def test_stream_holds_a_block_not_the_job(small_blocks, spec):
    """Arrow memory while streaming stays a small fraction of the whole dataset's: finished blocks are released."""
    from orchestrator_assets.generation.generator import stream

    generate(spec, 200, 1, "u", "warm")  # value pools, cached once per process
    base = pa.total_allocated_bytes()
    ds = generate(spec, 20_000, 1, "u", "j")
    whole = pa.total_allocated_bytes() - base
    del ds
    base, peak, most = pa.total_allocated_bytes(), 0, 0
    for gen, ledger in stream(spec, 20_000, 1, "u", "j").pieces():
        peak, most = max(peak, pa.total_allocated_bytes() - base), max(most, gen.clean.num_rows)
        del gen, ledger
    assert most == 1_000
    assert peak < whole / 5, (peak, whole)
