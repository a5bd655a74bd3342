select
    shipment_id,
    order_id,
    location_id,
    carrier,
    shipped_at,
    delivered_at,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'shipments') }}
where {{ gold_partition_predicate() }}
