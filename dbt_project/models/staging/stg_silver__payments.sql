select
    payment_id,
    order_id,
    method as payment_method,
    amount,
    paid_at,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'payments') }}
where {{ gold_partition_predicate() }}
