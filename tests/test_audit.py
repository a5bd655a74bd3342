"""The auditor's deterministic path on partitions with planted problems, and the audit/report asset.

Expected, written before the code: a clean partition has no critical finding; whitespace left untrimmed is a
critical accuracy miss caused by a rule; an error_rate of 0.6 against earlier jobs at 0.3 is a drift warning
caused by the generator's error profile; users mostly quarantined make orders' foreign-key quarantine a
critical upstream orphan cascade naming users; ages shifted by 60 years lie outside the spec's source range.
"""
from __future__ import annotations

import json

import pytest
from audit_partitions import NoTrimEngine, build, corrupted_users, raised_error_rate, shift_ages
from dagster import DagsterInstance, materialize

from orchestrator_assets import layout
from orchestrator_assets.audit.asset import audit_report
from orchestrator_assets.audit.graph import audit
from orchestrator_assets.audit.grounding import evidence_numbers, ungrounded
from orchestrator_assets.audit.tools import Partition
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.resources import StorageResource
from orchestrator_assets.storage.local import LocalStorage


@pytest.fixture(scope="module")
def store(tmp_path_factory, spec):
    store = LocalStorage(tmp_path_factory.mktemp("audit-store"))
    for i, job in enumerate(["j0", "j1", "j2"]):
        build(store, spec, "alice", job, seed=10 + i)
    build(store, raised_error_rate(spec), "alice", "hot", seed=20)
    build(store, spec, "bob", "notrim", seed=30, engine=NoTrimEngine())
    build(store, corrupted_users(spec), "carol", "cascade", seed=40)
    build(store, spec, "dave", "aged", seed=50)
    shift_ages(store, "dave", "aged", years=60)
    return store


@pytest.fixture(scope="module")
def reports(store):
    out = {}
    for user, job in [("alice", "j2"), ("alice", "hot"), ("bob", "notrim"), ("carol", "cascade"), ("dave", "aged")]:
        p = Partition(store, user, job)
        try:
            out[f"{user}.{job}"] = audit(p)
        finally:
            p.close()
    return out


def _with(report, severity=None, cause=None, table=None):
    return [f for f in report["findings"] if (severity is None or f["severity"] == severity)
            and (cause is None or f["cause"] == cause) and (table is None or f["table"] == table)]


def test_clean_partition_has_no_critical_finding(reports):
    r = reports["alice.j2"]
    assert r["trustworthy"] and not _with(r, "critical")
    assert r["planner"] == "deterministic"
    # It looked everywhere: every table's profile, and the other two jobs of the user.
    profiled = {e["args"]["table"] for e in r["evidence"] if e["tool"] == "column_profiles"}
    assert len(profiled) == 10
    drift = next(e for e in r["evidence"] if e["tool"] == "compare_earlier")["result"]
    assert drift["jobs"] == ["hot", "j0", "j1"]


def test_disabled_trim_rule_is_a_critical_miss_caused_by_a_rule(reports):
    r = reports["bob.notrim"]
    assert not r["trustworthy"]
    miss = [f for f in _with(r, "critical", "rule_misses_pattern") if f["title"].startswith("whitespace")]
    assert len(miss) == 1
    assert miss[0]["evidence"]["missed_rate"] > 0.1 and "trim" in miss[0]["action"]
    # The planner followed up: ledger rows whose Silver value kept the whitespace, and the untrimmed counts.
    missed = [s for s in miss[0]["samples"] if "silver" in s]
    assert missed and all(s["silver"] != s["silver"].strip() and s["silver"].strip() == s["clean"].strip()
                          for s in missed)
    assert any(s.get("untrimmed", 0) > 0 for s in miss[0]["samples"])
    assert _with(r, "warning", "rule_misses_pattern")


def test_raised_error_rate_is_drift_from_the_generator_profile(reports):
    r = reports["alice.hot"]
    rate = [f for f in _with(r, "warning", "generator_error_profile") if f["title"].startswith("error rate")]
    assert len(rate) == 1
    assert rate[0]["evidence"]["current"] == 0.6 and rate[0]["evidence"]["baseline"] == 0.3
    assert rate[0]["evidence"]["jobs"] == 3
    assert not _with(r, cause="rule_misses_pattern", severity="critical")


def test_corrupted_parent_is_an_orphan_cascade(reports):
    r = reports["carol.cascade"]
    cascade = _with(r, "critical", "upstream_orphan_cascade", "orders")
    assert len(cascade) == 1
    ev = cascade[0]["evidence"]
    assert ev["parent"] == "users" and ev["parent_share"] > 0.25 and ev["cascade_share"] > 0.3
    assert ev["parent_top_rule"]["rule"] == "required" and ev["parent_top_rule"]["column"] == "first_name"
    # The planner sampled the parent's quarantine to find which rule held it back.
    assert cascade[0]["samples"] and all("first_name" in s["_reason"] for s in cascade[0]["samples"])
    assert not r["trustworthy"]


def test_drifted_column_is_outside_the_spec_range(reports):
    r = reports["dave.aged"]
    drift = _with(r, "critical", "drift", "users")
    assert [f["column"] for f in drift] == ["age"]
    assert drift[0]["evidence"]["outside_share"] > 0.5 and drift[0]["evidence"]["source_max"] == 90
    # Nothing else in that partition is critical: the cause is the column, not cleaning.
    assert all(f["column"] == "age" for f in _with(r, "critical"))


def test_templated_findings_pass_the_grounding_check(reports):
    for r in reports.values():
        known = evidence_numbers([e["result"] for e in r["evidence"]])
        for f in r["findings"]:
            assert ungrounded(f["title"], known) == [], f["title"]


def test_step_budget_bounds_the_investigation(store):
    p = Partition(store, "alice", "j2")
    try:
        r = audit(p, max_steps=2)
    finally:
        p.close()
    assert r["steps"] == 5 + 2  # the baseline tools, then two follow-ups


def test_asset_writes_report_and_fails_trustworthy_on_critical(store):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", ["carol.cascade", "alice.j2"])
    resources = {**storage_resources(StorageResource(backend="local", root=str(store.root)))}
    for key, passed in [("carol.cascade", False), ("alice.j2", True)]:
        result = materialize([audit_report], partition_key=key, resources=resources, instance=instance)
        assert result.success
        [check] = result.get_asset_check_evaluations()
        assert check.check_name == "trustworthy" and check.passed is passed
        [mat] = result.asset_materializations_for_node("audit__report")
        md = mat.metadata["report"].value
        assert md.startswith("**" + key) and "| severity | finding | likely cause | recommended action |" in md
        user, job = key.split(".")
        saved = json.loads(store.get_bytes(layout.audit_report_key(user, job)))
        assert saved["trustworthy"] is passed and saved["partition"] == key
        assert mat.metadata["critical"].value == sum(f["severity"] == "critical" for f in saved["findings"])


def test_failed_gold_tests_of_the_partition_are_critical(store):
    """Gold results come from the instance's check evaluations of the partition's runs, whichever run wrote them."""
    from dagster import AssetCheckResult, AssetCheckSpec, AssetKey, MaterializeResult, asset

    from orchestrator_assets.partitions import job_partitions

    fact = AssetKey(["gold", "fact_orders"])

    @asset(key=fact, partitions_def=job_partitions, check_specs=[
        AssetCheckSpec("not_null_fact_orders_order_id", asset=fact), AssetCheckSpec("unique_order_id", asset=fact)])
    def fact_orders(context):
        yield MaterializeResult()
        yield AssetCheckResult(check_name="not_null_fact_orders_order_id", passed=context.partition_key != "alice.j1")
        yield AssetCheckResult(check_name="unique_order_id", passed=True)

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", ["alice.j1", "alice.j0"])
    for key in ("alice.j1", "alice.j0"):
        assert materialize([fact_orders], partition_key=key, instance=instance).success
    for job, failed in (("j1", 1), ("j0", 0)):
        p = Partition(store, "alice", job, instance=instance)
        try:
            r = audit(p)
        finally:
            p.close()
        gold = next(e for e in r["evidence"] if e["tool"] == "gold_tests")["result"]
        assert gold["available"] and gold["tests"] == 2 and gold["failed"] == failed
        assert len(_with(r, "critical", "gold_test_failure")) == failed


def test_audit_has_its_own_job_and_stays_out_of_the_pipeline_jobs():
    from orchestrator_assets.definitions import defs

    def keys(name):
        return {k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.executable_asset_keys}

    assert keys("audit_job") == {"audit/report"}
    for name in ("medallion_job", "clean_small_job", "clean_large_job"):
        assert "audit/report" not in keys(name) and "silver/quarantine" in keys(name)
    assert defs.resolve_job_def("audit_job").partitions_def.name == "jobs"
