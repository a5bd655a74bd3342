{#
  Business rule: rows for which the SQL expression is not true (false or null) fail.
#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
