{#
  Every row carries the pipeline_user / pipeline_job of the partition being built. Used on the
  Silver sources: the marts delete and re-append by these two columns, so a file whose rows name
  another partition would otherwise leave rows that no later re-run replaces. This test must see
  all rows, so it switches the project-wide partition filter off. On MySQL a source is a staging
  table holding every partition, loaded by partition (the loader refuses rows of another one), so
  there only missing partition values are looked for.
#}
{% test partition_columns_match_vars(model) %}
{{ config(where="1 = 1") }}
select pipeline_user, pipeline_job, count(*) as n_rows
from {{ model }}
where pipeline_user is null
   or pipeline_job is null
{%- if target.type == 'duckdb' %}
   or not ({{ gold_partition_predicate() }})
{%- endif %}
group by pipeline_user, pipeline_job
{% endtest %}
