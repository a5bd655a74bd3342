{#
  Override of dbt's get_where_subquery (the macro that applies a test's `where` config).
  dbt_project.yml sets `+where: "__gold_partition__"` for every test of this project; the
  placeholder is replaced here, at run time, by the partition predicate built from the vars, so
  tests only read the partition being built and their cost does not grow with the warehouse.
  dbt documents this placeholder pattern for where configs that need run-time logic.
#}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- if where -%}
    {%- if '__gold_partition__' in where -%}
      {%- set where = where | replace('__gold_partition__', gold_partition_predicate()) -%}
    {%- endif -%}
    {%- set filtered -%}
      (select * from {{ relation }} where {{ where }}) dbt_subquery
    {%- endset -%}
    {%- do return(filtered) -%}
  {%- else -%}
    {%- do return(relation) -%}
  {%- endif -%}
{%- endmacro %}
