{#
  Like dbt's relationships test, but a child row must find its parent in the SAME partition:
  the join also matches pipeline_user and pipeline_job (ids restart at 1 in every partition, so a
  plain relationships test would pass against another partition's rows). The child side is
  limited to the partition being built by the project-wide where config; the parent side is
  limited here, so the test reads one partition of each table. Null children pass.
#}
{% test relationships_in_partition(model, column_name, to, field) %}
with child as (
    select {{ column_name }} as child_key, pipeline_user, pipeline_job
    from {{ model }}
    where {{ column_name }} is not null
),
parent as (
    select {{ field }} as parent_key, pipeline_user, pipeline_job
    from {{ to }}
    where {{ gold_partition_predicate() }}
)
select child.child_key, child.pipeline_user, child.pipeline_job
from child
left join parent
  on parent.parent_key = child.child_key
 and parent.pipeline_user = child.pipeline_user
 and parent.pipeline_job = child.pipeline_job
where parent.parent_key is null
{% endtest %}
