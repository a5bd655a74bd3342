select
    order_id,
    user_id,
    shipping_location_id,
    status as order_status,
    channel,
    currency,
    ordered_at,
    cast(ordered_at as date) as order_date,
    total_amount,
    updated_at,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'orders') }}
where {{ gold_partition_predicate() }}
