select
    event_id,
    session_id,
    user_id,
    product_id,
    event_type,
    device,
    occurred_at,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'web_events') }}
where {{ gold_partition_predicate() }}
