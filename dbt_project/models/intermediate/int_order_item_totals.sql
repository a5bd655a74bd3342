-- One row per order that has lines: number of lines, units and the sum of line amounts.
select
    order_id,
    count(*) as item_count,
    sum(quantity) as units,
    {{ gold_round('sum(line_amount)', 2) }} as items_amount
from {{ ref('stg_silver__order_items') }}
group by order_id
