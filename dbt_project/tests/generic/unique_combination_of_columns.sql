{#
  Each combination of the given columns occurs at most once. Put pipeline_user and pipeline_job
  in the list to state "unique within a partition" explicitly.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
