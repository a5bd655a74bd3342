"""The dbt project as dagster-dbt knows it, on its own so that it loads before any manifest exists.

`dagster-dbt project prepare-and-package --file orchestrator_assets/dbt_project.py` (`make manifest`, and the
deploy build in deploy/README.md) loads this file alone and writes dbt_project/target/manifest.json, which
assets/gold.py reads when the code location loads. The imports are absolute because that command loads the
file by its path, outside the package.
"""
import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestrator_assets.settings import DBT_PROJECT_DIR, dbt_profiles_dir

# dagster-dbt's preparer runs the `dbt` it finds on PATH, and a virtualenv's interpreter does not put its own
# bin folder there: without this, `dbt parse` would fail, or be another installation's dbt.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join(filter(None, [_BIN, os.environ.get("PATH", "")]))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=dbt_profiles_dir())
