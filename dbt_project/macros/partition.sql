{#
  Partition helpers. A Gold build always covers exactly one Silver partition, named by the vars
  pipeline_user and pipeline_job (validated upstream to [a-z0-9_-]; escaped here anyway).
#}

{% macro gold_sql_string(value) -%}
  {#- A SQL string literal for value: single quotes are doubled. A backslash is refused because
      MySQL/MariaDB read it as an escape character and DuckDB does not. -#}
  {%- set s = value | string -%}
  {%- if '\\' in s or '\n' in s or '\r' in s or '\0' in s -%}
    {{ exceptions.raise_compiler_error("refusing to quote " ~ (s | tojson) ~ ": backslashes and control characters are not allowed in partition ids") }}
  {%- endif -%}
  '{{ s | replace("'", "''") }}'
{%- endmacro %}


{% macro gold_partition_predicate() -%}
  {#- pipeline_user = '<var>' and pipeline_job = '<var>': every staging model's filter, so the models downstream
      see one partition and join on ids alone. -#}
  pipeline_user = {{ gold_sql_string(var('pipeline_user')) }} and pipeline_job = {{ gold_sql_string(var('pipeline_job')) }}
{%- endmacro %}


{% macro gold_delete_partition() -%}
  {#- Pre-hook of every mart (see dbt_project.yml). On an incremental run it deletes the rows of
      the partition being built; the append that follows, in the same transaction, writes them
      again. Other partitions are never touched, and a re-run that yields fewer rows leaves no
      stale rows behind. On the first run the table does not exist yet and nothing is deleted. -#}
  {%- if is_incremental() -%}
    delete from {{ this }} where {{ gold_partition_predicate() }}
  {%- endif -%}
{%- endmacro %}


{% macro gold_index_mart() -%}
  {#- Post-hook of every mart: one index on (pipeline_user, pipeline_job, <meta.gold_key>), created once.
      MySQL joins a mart to a dimension (dbt's relationship tests, queries on Gold) by index or by scanning
      the whole dimension for every row; DuckDB hash-joins and needs none. -#}
  {{ return(adapter.dispatch('gold_index_mart', 'orchestrator_gold')(model.config.meta.get('gold_key'))) }}
{%- endmacro %}

{% macro default__gold_index_mart(key) -%}
  select 1
{%- endmacro %}

{% macro mysql__gold_index_mart(key) -%}
  {%- set existing = 0 -%}
  {%- if execute and key -%}
    {%- set found = run_query("select count(*) from information_schema.statistics where table_schema = '"
                              ~ this.schema ~ "' and table_name = '" ~ this.identifier
                              ~ "' and index_name = 'gold_key'") -%}
    {%- set existing = found.columns[0].values()[0] -%}
  {%- endif -%}
  {%- if key and existing == 0 -%}
    create index gold_key on {{ this }} (pipeline_user, pipeline_job, {{ key }})
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
