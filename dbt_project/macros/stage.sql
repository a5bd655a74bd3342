{#
  Staged builds. The Gold step passes the var gold_stage (stage_<unix seconds>_<hex>): every mart is then
  built as a plain table <mart>__<gold_stage> holding this partition only, and the dbt tests run against
  those tables. The orchestrator copies the partition into the real marts only when the whole build passed
  (orchestrator_assets/warehouse/publish.py), so a failing test leaves the published rows as they were.
  Without the var (a build by hand) the marts are built in place, incrementally, as before.
#}

{% macro gold_stage() -%}
  {%- set stage = var('gold_stage', '') | string -%}
  {%- if stage and not modules.re.fullmatch('stage_[0-9]{10}_[0-9a-f]{6}', stage) -%}
    {{ exceptions.raise_compiler_error("gold_stage " ~ (stage | tojson) ~ " is not stage_<unix seconds>_<6 hex digits>") }}
  {%- endif -%}
  {{ return(stage) }}
{%- endmacro %}


{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
  {%- set name = dbt.default__generate_alias_name(custom_alias_name, node) | trim -%}
  {%- set stage = gold_stage() -%}
  {%- if stage and node.resource_type == 'model' and node.config.materialized != 'ephemeral' -%}
    {{ return(name ~ '__' ~ stage) }}
  {%- endif -%}
  {{ return(name) }}
{%- endmacro %}


{% macro ref() -%}
  {#- A staged build that selected only some marts (a subset run) stages only those: a ref to a mart it did
      not select (a relationships test's parent) reads that mart's published table instead. -#}
  {%- set version = kwargs.get('version') or kwargs.get('v') -%}
  {%- if (varargs | length) == 1 -%}
    {%- set rel = builtins.ref(varargs[0], version=version) -%}
  {%- else -%}
    {%- set rel = builtins.ref(varargs[0], varargs[1], version=version) -%}
  {%- endif -%}
  {%- set suffix = '__' ~ gold_stage() -%}
  {%- if execute and gold_stage() and rel.identifier is defined and rel.identifier is string
        and rel.identifier.endswith(suffix) -%}
    {%- set name = rel.identifier[:-(suffix | length)] -%}
    {%- if ('model.orchestrator_gold.' ~ name) not in selected_resources -%}
      {%- do return(rel.incorporate(path={"identifier": name})) -%}
    {%- endif -%}
  {%- endif -%}
  {%- do return(rel) -%}
{%- endmacro %}
