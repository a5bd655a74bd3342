-- One row per order that has shipments. With several shipments, shipped_at is the first
-- dispatch and delivered_at the last delivery, known only once every shipment is delivered.
-- carrier is that of the first shipment (earliest shipped_at, then lowest shipment_id).
with ranked as (
    select
        order_id,
        shipment_id,
        carrier,
        shipped_at,
        delivered_at,
        row_number() over (
            partition by order_id
            order by shipped_at, shipment_id
        ) as shipment_rank
    from {{ ref('stg_silver__shipments') }}
)

select
    order_id,
    count(*) as shipment_count,
    max(case when shipment_rank = 1 then carrier end) as carrier,
    min(shipped_at) as shipped_at,
    case when count(delivered_at) = count(*) then max(delivered_at) end as delivered_at
from ranked
group by order_id
