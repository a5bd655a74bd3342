"""The accuracy comparison as it was before it became SQL (cleaning/accuracy.py): the clean tables of a
regenerated dataset against Silver and quarantine held in memory, with numpy and Arrow. Kept only as the
oracle the SQL is held to (tests/test_accuracy.py), field by field."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestrator_assets.cleaning.accuracy import AccuracyReport
from orchestrator_assets.generation.generator import ROW_LEVEL, GeneratedDataset
from orchestrator_assets.generation.spec import references


def _aligned(silver: pa.Table, pk: str, start: int, n: int) -> np.ndarray:
    """For each clean row position, the Silver row index holding that key (or -1)."""
    pos = np.full(n, -1, np.int64)
    keys = silver.column(pk).to_numpy() - start
    ok = (keys >= 0) & (keys < n)
    pos[keys[ok]] = np.flatnonzero(ok)
    return pos


def _same(clean: pa.Array, silver: pa.Array) -> np.ndarray:
    if pa.types.is_timestamp(clean.type) or pa.types.is_date(clean.type):
        silver = silver.cast(clean.type, safe=False)
    elif clean.type != silver.type:
        silver = silver.cast(clean.type)
    eq = pc.fill_null(pc.equal(clean, silver), False)
    both_null = pc.and_(pc.is_null(clean), pc.is_null(silver))
    return pc.or_(eq, both_null).to_numpy(zero_copy_only=False)


def _expected(clean: pa.Array, ledger: pa.Table, positions: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """What Silver should hold per row of a column, and which rows should hold nothing (null or quarantine).

    That is the clean value, except where the ledger's expected_value says otherwise (date_only: the date at
    midnight) or is null (no right repair, e.g. email_dots)."""
    n = len(clean)
    no_repair = np.zeros(n, bool)
    if "expected_value" not in ledger.column_names or not ledger.num_rows:
        return clean, no_repair
    expected, recorded = ledger.column("expected_value"), ledger.column("clean_value")
    missing = pc.is_null(expected).to_numpy(zero_copy_only=False)
    no_repair[positions[missing]] = True
    differs = pc.fill_null(pc.not_equal(expected, recorded), False).to_numpy(zero_copy_only=False)
    if not differs.any():
        return clean, no_repair
    text = expected.filter(pa.array(differs)).combine_chunks()
    if pa.types.is_timestamp(clean.type):
        values = pc.strptime(text, "%Y-%m-%d %H:%M:%S", unit="s").cast(clean.type)
    elif pa.types.is_date(clean.type):
        values = pc.strptime(text, "%Y-%m-%d", unit="s").cast(clean.type)
    else:
        values = text.cast(clean.type)
    slot = np.full(n, -1, np.int64)
    slot[positions[differs]] = np.arange(len(values))
    override = values.take(pa.array(slot, mask=slot < 0))
    return pc.if_else(pa.array(slot >= 0), override, clean), no_repair


def evaluate(truth: GeneratedDataset, silver: dict[str, pa.Table], quarantine: dict[str, pa.Table]) -> AccuracyReport:
    report = AccuracyReport()
    ledger = truth.ledger
    for name, gen in truth.tables.items():
        spec_table = truth.spec.tables[name]
        pk = spec_table.primary_key
        start = spec_table.columns[pk].source.start
        clean, s = gen.clean, silver[name]
        n = clean.num_rows
        pos = _aligned(s, pk, start, n)
        present = pos >= 0
        # Silver rows are unique per key, so the number of Silver rows per key is 0 or 1 unless dedup failed.
        silver_pos = s.column(pk).to_numpy() - start
        per_key = np.bincount(silver_pos[(silver_pos >= 0) & (silver_pos < n)], minlength=n)
        take = pa.array(np.where(present, pos, 0))
        t_ledger = ledger.filter(pc.equal(ledger.column("table"), name))
        ledger_pos = t_ledger.column("row_key").to_numpy() - start
        ledger_col = t_ledger.column("column").to_numpy(zero_copy_only=False)
        ledger_kind = t_ledger.column("error_kind").to_numpy(zero_copy_only=False)
        dirty_rows = np.zeros(n, bool)
        dirty_rows[ledger_pos] = True
        q = quarantine[name]
        held_by_parent = _held_by_parent_keys(q, pk) - start
        parent_held = np.zeros(n, bool)
        parent_held[held_by_parent[(held_by_parent >= 0) & (held_by_parent < n)]] = True

        whole_row_same = np.ones(n, bool)
        for column in clean.column_names:
            c = clean.column(column).combine_chunks()
            sv = s.column(column).combine_chunks().take(take)
            silver_null = pc.is_null(sv).to_numpy(zero_copy_only=False)
            # An optional reference to a parent row that was quarantined is nulled on purpose.
            in_ledger = np.zeros(n, bool)
            sel = ledger_col == column
            in_ledger[ledger_pos[sel]] = True
            untouched = present & ~in_ledger
            orphaned = _parent_missing(truth, name, column, c, silver) & silver_null & untouched
            report.nulled_with_parent += int(orphaned.sum())
            expected, no_repair = _expected(c, t_ledger.filter(pa.array(sel)), ledger_pos[sel])
            # A value with no right repair is never "the same": any value Silver holds for it is a guess.
            same = (_same(expected, sv) | orphaned) & present & ~no_repair
            whole_row_same &= same
            report.clean_cells += int(untouched.sum())
            wrong = untouched & ~same
            report.wrongly_changed += int(wrong.sum())
            for i in np.flatnonzero(wrong)[:3]:
                report.examples.append({"table": name, "column": column, "key": int(i + start),
                                        "clean": str(c[i].as_py()), "silver": str(sv[i].as_py())})
            for kind in np.unique(ledger_kind[sel]):
                p = ledger_pos[sel & (ledger_kind == kind)]
                ok, here, nulled = same[p], present[p], silver_null[p]
                report.add(kind, "repaired", (ok & here).sum())
                report.add(kind, "nulled", (here & ~ok & nulled).sum())
                report.add(kind, "missed", (here & ~ok & ~nulled).sum())
                report.add(kind, "quarantined", (~here).sum())

        row_sel = ledger_col == ROW_LEVEL
        if row_sel.any():
            for kind in np.unique(ledger_kind[row_sel]):
                p = ledger_pos[row_sel & (ledger_kind == kind)]
                once = per_key[p] == 1
                report.add(kind, "repaired", (present[p] & once & whole_row_same[p]).sum())
                report.add(kind, "missed", (present[p] & ~(once & whole_row_same[p])).sum())
                report.add(kind, "quarantined", (~present[p]).sum())

        report.clean_rows += int((~dirty_rows).sum())
        lost = ~dirty_rows & ~present
        report.quarantined_with_parent += int((lost & parent_held).sum())
        report.wrongly_quarantined += int((lost & ~parent_held).sum())
    return report


def _parent_missing(truth: GeneratedDataset, table: str, column: str, clean: pa.Array,
                    silver: dict[str, pa.Table]) -> np.ndarray:
    spec_table = truth.spec.tables[table]
    parent_name = references(truth.spec, table, column) if column != spec_table.primary_key else None
    if parent_name is None or parent_name not in silver:
        return np.zeros(len(clean), bool)
    keys = silver[parent_name].column(truth.spec.tables[parent_name].primary_key)
    known = pc.is_in(clean, value_set=keys.combine_chunks())  # false for nulls, which never dangle
    return pc.and_(pc.is_valid(clean), pc.invert(known)).to_numpy(zero_copy_only=False)


def _held_by_parent_keys(q: pa.Table, pk: str) -> np.ndarray:
    """Keys of rows quarantined only because a parent row was quarantined."""
    if not q.num_rows:
        return np.empty(0, np.int64)
    cascade = pc.fill_null(pc.match_substring(q.column("_reason"), "row is quarantined"), False)
    keys = pc.utf8_trim_whitespace(q.column(pk).filter(cascade))
    ok = pc.fill_null(pc.match_substring_regex(keys, r"^\d{1,18}$"), False)
    return pc.cast(keys.filter(ok), pa.int64()).to_numpy()
