"""The audit/report asset per partition, its `trustworthy` check, and the audit_job."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)

from ..assets.silver import QUARANTINE
from ..ids import split_key
from ..partitions import job_partitions
from ..resources import StorageResource
from . import facts
from .report import markdown
from .tools import Partition

AUDIT_REPORT = AssetKey(["audit", "report"])
GOLD_FACT = AssetKey(["gold", "fact_orders"])


@asset(
    key=AUDIT_REPORT, deps=[QUARANTINE, GOLD_FACT], partitions_def=job_partitions, group_name="audit",
    kinds={"python"}, description="What is wrong with the partition's data and why: findings with severity, "
    "evidence, likely cause and a recommended action (docs/audit.md).",
    check_specs=[AssetCheckSpec("trustworthy", asset=AUDIT_REPORT,
                                description="Fails when the audit has a critical finding.")],
)
def audit_report(context: AssetExecutionContext, storage: StorageResource):
    # LangGraph is imported when an audit runs, not when the code location loads (about 1.5 s of every start).
    from .graph import audit, open_model

    user, job = split_key(context.partition_key)
    store = storage.get()
    model = open_model()  # AI_PROVIDER=none (the default): the deterministic planner
    p = Partition(store, user, job, instance=context.instance)
    try:
        report = audit(p, model)
    finally:
        p.close()
    for dropped in report["dropped"]:
        context.log.warning(f"dropped model output with numbers not in the evidence: {dropped}")
    uri = facts.write_audit_report(store, user, job, report)
    counts = {s: sum(f["severity"] == s for f in report["findings"]) for s in ("critical", "warning", "info")}
    context.log.info(report["summary"])
    yield MaterializeResult(metadata={
        "summary": report["summary"], "report": MetadataValue.md(markdown(report)),
        "critical": counts["critical"], "warning": counts["warning"], "info": counts["info"],
        "planner": report["planner"], "steps": report["steps"], "audit_seconds": report["seconds"],
        "path": MetadataValue.path(uri),
    })
    critical = [f["title"] for f in report["findings"] if f["severity"] == "critical"]
    yield AssetCheckResult(check_name="trustworthy", passed=report["trustworthy"],
                           severity=AssetCheckSeverity.ERROR,
                           metadata={"critical": MetadataValue.json(critical), "summary": report["summary"]})


audit_job = define_asset_job("audit_job", selection=[AUDIT_REPORT],
                             description="Audit partitions' data quality (after Silver and Gold).")
