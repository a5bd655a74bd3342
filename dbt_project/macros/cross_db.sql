{#
  The few expressions with no standard SQL spelling shared by DuckDB and MySQL 8 / MariaDB.
  Each is dispatched: default__ is the DuckDB (and mostly ANSI) form; a mysql__ version goes
  next to it when the MySQL target is added. Everything else in the models is plain SQL.
#}

{# YYYYMMDD as an integer, from a date or timestamp. #}
{% macro gold_date_key(expr) -%}
  {{ return(adapter.dispatch('gold_date_key', 'orchestrator_gold')(expr)) }}
{%- endmacro %}
{% macro default__gold_date_key(expr) -%}
  cast(extract(year from {{ expr }}) * 10000 + extract(month from {{ expr }}) * 100 + extract(day from {{ expr }}) as integer)
{%- endmacro %}
{# mysql: cast(date_format(expr, '%Y%m%d') as unsigned) or the same sum with `as signed` #}

{# ISO day of week: 1 = Monday .. 7 = Sunday. #}
{% macro gold_iso_day_of_week(expr) -%}
  {{ return(adapter.dispatch('gold_iso_day_of_week', 'orchestrator_gold')(expr)) }}
{%- endmacro %}
{% macro default__gold_iso_day_of_week(expr) -%}
  extract(isodow from {{ expr }})
{%- endmacro %}
{# mysql: (weekday(expr) + 1) #}

{# date + n days, as a date. #}
{% macro gold_add_days(date_expr, n_expr) -%}
  {{ return(adapter.dispatch('gold_add_days', 'orchestrator_gold')(date_expr, n_expr)) }}
{%- endmacro %}
{% macro default__gold_add_days(date_expr, n_expr) -%}
  cast({{ date_expr }} + interval ({{ n_expr }}) day as date)
{%- endmacro %}
{# mysql: date_add(date_expr, interval n_expr day) #}

{# Hours from start to end (fractional), null if either is null. #}
{% macro gold_hours_between(start_expr, end_expr) -%}
  {{ return(adapter.dispatch('gold_hours_between', 'orchestrator_gold')(start_expr, end_expr)) }}
{%- endmacro %}
{% macro default__gold_hours_between(start_expr, end_expr) -%}
  (date_diff('second', {{ start_expr }}, {{ end_expr }}) / 3600.0)
{%- endmacro %}
{# mysql: (timestampdiff(second, start_expr, end_expr) / 3600.0) #}

{# Cast to a 64-bit integer (DuckDB's sum() of integers returns HUGEINT otherwise). #}
{% macro gold_bigint(expr) -%}
  {{ return(adapter.dispatch('gold_bigint', 'orchestrator_gold')(expr)) }}
{%- endmacro %}
{% macro default__gold_bigint(expr) -%}
  cast({{ expr }} as bigint)
{%- endmacro %}
{# mysql: cast(expr as signed) #}
