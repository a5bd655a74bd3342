select
    order_item_id,
    order_id,
    product_id,
    quantity,
    unit_price,
    line_amount,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'order_items') }}
where {{ gold_partition_predicate() }}
