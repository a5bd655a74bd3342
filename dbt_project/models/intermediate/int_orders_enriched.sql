-- One row per order: the header plus line totals, payments and shipments, and the order's
-- date key. Orders without lines / payments get zero counts and amounts.
select
    o.order_id,
    o.user_id,
    o.shipping_location_id,
    o.ordered_at,
    o.order_date,
    {{ gold_date_key('o.order_date') }} as order_date_key,
    o.order_status,
    case when o.order_status in ('cancelled', 'returned') then 0 else 1 end as is_net_sale,
    o.channel,
    o.currency,
    o.total_amount,
    coalesce(t.item_count, 0) as item_count,
    coalesce(t.units, 0) as units,
    coalesce(t.items_amount, 0) as items_amount,
    coalesce(p.payment_count, 0) as payment_count,
    coalesce(p.paid_amount, 0) as paid_amount,
    p.payment_method,
    p.first_paid_at as paid_at,
    coalesce(s.shipment_count, 0) as shipment_count,
    s.carrier,
    s.shipped_at,
    s.delivered_at,
    o.pipeline_user,
    o.pipeline_job
from {{ ref('stg_silver__orders') }} as o
left join {{ ref('int_order_item_totals') }} as t
    on t.order_id = o.order_id
left join {{ ref('int_order_payments') }} as p
    on p.order_id = o.order_id
left join {{ ref('int_order_shipments') }} as s
    on s.order_id = o.order_id
