"""`ask_job`: the request in the launchpad's config; the same steps as `orchestrator ask`, and optionally the run."""
from dagster import Config, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from ..ids import check_id
from .ask import LazyLibrary, ask


class AskConfig(Config):
    request: str = Field(description='What to generate, e.g. "50k orders from a German shop, no reviews".')
    user: str = Field("anonymous", description="Who asks: the library owner and, with submit, the job's user.")
    rows: int = Field(0, description="Rows of the anchor table; 0 takes them from the request.")
    submit: bool = Field(False, description="Run the spec as a Medallion job for a new partition.")
    job: str = Field("", description="Job id for submit (default: a new timestamped id).")
    seed: int = 42


@op(description="Turn a plain-language request into a validated dataset spec, save it (library and file), and "
                "with submit run it as a job.")
def ask_request(context: OpExecutionContext, config: AskConfig) -> Output[dict]:
    check_id(config.user, "user")
    library = LazyLibrary(context.log.warning)
    result = ask(config.request, rows=config.rows or None, owner=config.user, library=library,
                 log=context.log.info)
    context.log.info("\n" + result.summary)
    out = {"spec": str(result.path), "rows": result.rows, "library_id": result.entry_id,
           "provider": result.provenance.get("provider"), "partition": None}
    if config.submit:
        from ..cli import submit

        request, run = submit(config.user, config.job or None, result.rows, config.seed, str(result.path),
                              instance=context.instance)
        if library and result.entry_id:
            library.record_job(result.entry_id, request.partition_key)
        out.update(partition=request.partition_key, run_id=run.run_id, run_success=run.success)
        if not run.success:
            raise RuntimeError(f"the job for {request.partition_key} failed (run {run.run_id}); the spec is "
                               f"kept at {result.path}")
    return Output(out, metadata={"summary": MetadataValue.md(f"```\n{result.summary}\n```"),
                                 "spec": MetadataValue.path(str(result.path)), "rows": result.rows,
                                 "provenance": MetadataValue.json(result.provenance)})


@job(description="A plain-language data request -> a validated dataset spec (offline planner or the configured "
                 "model), saved in the schema library; optionally run as a Medallion job.")
def ask_job():
    ask_request()
