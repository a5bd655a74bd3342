"""The Dagster UI as a person sees it: a real dagster-webserver, one materialised partition, headless Chromium.

Screenshots land in $ORCHESTRATOR_ARTIFACTS when set, else in the test's temporary folder (never the repo).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from support.chromium import browser_page
from support.dagster_webserver import DagsterWebserver
from support.local_services import HOST

from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.cleaning.publish import require_silver
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import CleaningEngineResource, DatabricksResource, StorageResource
from orchestrator_assets.settings import PROJECT_DIR

pytestmark = pytest.mark.xdist_group("dagster_webserver")
KEY = "uiuser.quality"
PAGE_TIMEOUT_MS = 90_000  # the first page of a loaded machine compiles the UI's bundle


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ui")
    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    # The partition is materialised into the very instance (and data folder) the webserver then serves.
    instance = DagsterInstance.from_config(str(home))
    storage = StorageResource(root=str(workdir / "data" / "storage"))
    store = storage.get()
    try:
        save_request(store, build_request(*KEY.split("."), 300, 11))
        instance.add_dynamic_partitions("jobs", [KEY])
        result = materialize([bronze, silver], partition_key=KEY, instance=instance, resources={
            **storage_resources(storage), "cleaning": CleaningEngineResource(engine="pandas"),
            "databricks": DatabricksResource()})
        assert result.success
    finally:
        instance.dispose()
    report = json.loads(store.get_bytes(require_silver(store, *KEY.split(".")).accuracy_report))
    cleaning = json.loads(store.get_bytes(require_silver(store, *KEY.split(".")).cleaning_report))
    server = DagsterWebserver(workdir).start()
    # A fresh instance greets its first visitor with a newsletter dialog over every page; its "Skip" sends this.
    assert server.post("mutation { setNuxSeen }")["data"]["setNuxSeen"] is True
    shots = Path(os.environ.get("ORCHESTRATOR_ARTIFACTS") or workdir / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with browser_page(workdir / "chromium-profile") as page:
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            yield {"page": page, "base": f"http://{HOST}:{server.port}", "report": report, "cleaning": cleaning,
                   "shots": shots}
    finally:
        server.stop()


def visit(ui, path: str, name: str, wait_for: str):
    page = ui["page"]
    page.goto(ui["base"] + path)
    page.get_by_text(wait_for, exact=False).first.wait_for()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ui["shots"] / f"{name}.png"), full_page=True)
    return page


def markdown_entry(ui, label: str) -> str:
    """The text of a Markdown metadata entry as a person reads it: the UI renders a short one as a table in the
    entry's row, a long one behind a "[Show Markdown]" link that opens it in a dialog."""
    page = ui["page"]
    row = page.locator("tr", has=page.get_by_text(label, exact=True)).first
    link = row.get_by_text("Show Markdown")
    if link.count():
        link.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("table").first.wait_for()
        page.screenshot(path=str(ui["shots"] / f"markdown-{label}.png"))
        text = dialog.inner_text()
        page.keyboard.press("Escape")
        return text
    row.get_by_role("table").first.wait_for()
    return row.inner_text()


def test_asset_graph_shows_the_pipeline(ui):
    page = ui["page"]
    page.goto(ui["base"] + "/")
    page.get_by_role("link", name="Lineage").first.click()
    page.wait_for_url("**/asset-groups**")
    # The graph lays itself out after the network goes quiet (slowly on a loaded machine): wait for each group.
    for node in ("bronze", "silver", "gold"):
        page.get_by_text(node, exact=True).first.wait_for(state="visible")
    page.screenshot(path=str(ui["shots"] / "asset-graph.png"))


def test_silver_partition_page_shows_its_row_counts(ui):
    orders = ui["cleaning"]["tables"]["orders"]
    page = visit(ui, f"/assets/silver/orders?view=partitions&partition={KEY}", "silver-orders-partition",
                 "bronze_rows")
    assert KEY in page.inner_text("body")
    for label, figure in (("rows", "silver_rows"), ("bronze_rows", "bronze_rows"), ("quarantined", "quarantined_rows")):
        row = page.locator("tr", has=page.get_by_text(label, exact=True)).first.inner_text()
        assert re.search(rf"\b{orders[figure]:,}\b|\b{orders[figure]}\b", row), (label, row)
    table = markdown_entry(ui, "rules_table")
    assert "trim" in table and "quarantined" in table


def test_quality_view_shows_the_accuracy_table(ui):
    page = visit(ui, f"/assets/silver/quarantine?view=partitions&partition={KEY}", "quarantine-partition",
                 "accuracy_by_kind")
    assert "missed_rate/whitespace" in page.inner_text("body")
    table = markdown_entry(ui, "accuracy_by_kind")
    assert "missed %" in table
    cells = {x.split("\t")[0].strip(): [c.strip() for c in x.split("\t")[1:]] for x in table.splitlines()}
    for kind, k in ui["report"]["kinds"].items():
        assert cells[kind] == [f"{k[c]:,}" for c in ("injected", "repaired", "nulled", "quarantined", "missed")] \
            + [f"{k['missed_rate']:.2%}"], kind
    by_rule = markdown_entry(ui, "quarantine_by_rule")
    assert "column" in by_rule and "foreign_key" in by_rule


def test_check_page_names_the_partition_and_passes(ui):
    page = visit(ui, "/assets/silver/quarantine?view=checks&checkDetail=cleaning_accuracy",
                 "cleaning-accuracy-check", "cleaning_accuracy")
    # The latest execution's fields: each a label with its value beneath.
    field = {label: page.get_by_text(label, exact=True).first.locator("xpath=..").inner_text().split("\n")[-1]
             for label in ("Partition", "Evaluation result")}
    assert field == {"Partition": KEY, "Evaluation result": "Passed"}
    table = markdown_entry(ui, "accuracy_by_kind")
    assert "missed %" in table and "all kinds" in table
