{#
  The few expressions with no standard SQL spelling shared by DuckDB and MySQL 8 / MariaDB.
  Each is dispatched: default__ is the DuckDB (and mostly ANSI) form, mysql__ the MySQL/MariaDB
  one (dbt-mysql's mariadb type falls back to it). Everything else in the models is plain SQL.
#}

{# YYYYMMDD as an integer, from a date or timestamp. #}
{% macro gold_date_key(expr) -%}
  {{ return(adapter.dispatch('gold_date_key', 'orchestrator_gold')(expr)) }}
{%- endmacro %}
{% macro default__gold_date_key(expr) -%}
  cast(extract(year from {{ expr }}) * 10000 + extract(month from {{ expr }}) * 100 + extract(day from {{ expr }}) as integer)
{%- endmacro %}
{% macro mysql__gold_date_key(expr) -%}
  cast(year({{ expr }}) * 10000 + month({{ expr }}) * 100 + dayofmonth({{ expr }}) as signed)
{%- endmacro %}

{# ISO day of week: 1 = Monday .. 7 = Sunday. #}
{% macro gold_iso_day_of_week(expr) -%}
  {{ return(adapter.dispatch('gold_iso_day_of_week', 'orchestrator_gold')(expr)) }}
{%- endmacro %}
{% macro default__gold_iso_day_of_week(expr) -%}
  extract(isodow from {{ expr }})
{%- endmacro %}
{% macro mysql__gold_iso_day_of_week(expr) -%}
  (weekday({{ expr }}) + 1)
{%- endmacro %}

{# date + n days, as a date. #}
{% macro gold_add_days(date_expr, n_expr) -%}
  {{ return(adapter.dispatch('gold_add_days', 'orchestrator_gold')(date_expr, n_expr)) }}
{%- endmacro %}
{% macro default__gold_add_days(date_expr, n_expr) -%}
  cast({{ date_expr }} + interval ({{ n_expr }}) day as date)
{%- endmacro %}
{% macro mysql__gold_add_days(date_expr, n_expr) -%}
  date_add({{ date_expr }}, interval ({{ n_expr }}) day)
{%- endmacro %}

{# Hours from start to end (fractional), null if either is null. #}
{% macro gold_hours_between(start_expr, end_expr) -%}
  {{ return(adapter.dispatch('gold_hours_between', 'orchestrator_gold')(start_expr, end_expr)) }}
{%- endmacro %}
{% macro default__gold_hours_between(start_expr, end_expr) -%}
  (date_diff('second', {{ start_expr }}, {{ end_expr }}) / 3600.0)
{%- endmacro %}
{% macro mysql__gold_hours_between(start_expr, end_expr) -%}
  {#- 3600e0, a double: a decimal divisor would keep only 4 more decimals (div_precision_increment). -#}
  (timestampdiff(second, {{ start_expr }}, {{ end_expr }}) / 3600e0)
{%- endmacro %}

{# Cast to a 64-bit integer (DuckDB's sum() of integers returns HUGEINT otherwise). #}
{% macro gold_bigint(expr) -%}
  {{ return(adapter.dispatch('gold_bigint', 'orchestrator_gold')(expr)) }}
{%- endmacro %}
{% macro default__gold_bigint(expr) -%}
  cast({{ expr }} as bigint)
{%- endmacro %}
{% macro mysql__gold_bigint(expr) -%}
  cast({{ expr }} as signed)
{%- endmacro %}

{# A user or job id as a column value. Sized on MySQL, which would otherwise type a column created from
   a literal by that literal's length, and refuse a longer id of the next partition. #}
{% macro gold_id_column(value) -%}
  {{ return(adapter.dispatch('gold_id_column', 'orchestrator_gold')(value)) }}
{%- endmacro %}
{% macro default__gold_id_column(value) -%}
  cast({{ gold_sql_string(value) }} as varchar)
{%- endmacro %}
{% macro mysql__gold_id_column(value) -%}
  cast({{ gold_sql_string(value) }} as char(40))
{%- endmacro %}

{# Round to `places` decimals the same way on both databases: through DECIMAL, half away from zero.
   round() on a double rounds the binary value (DuckDB) or follows the C library (MySQL), so x.xx5 cases
   differed; the result is a double again, so the marts' column types do not change. #}
{% macro gold_round(expr, places) -%}
  cast(round(cast({{ expr }} as decimal(38, 9)), {{ places }}) as double)
{%- endmacro %}
