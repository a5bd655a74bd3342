-- One row per order line, with the order header (who, when, status) and the product's category.
-- is_net_sale = 1 unless the order was cancelled or returned: only those lines count as sales.
select
    i.order_item_id,
    i.order_id,
    i.product_id,
    p.category_id,
    i.quantity,
    i.unit_price,
    i.line_amount,
    o.user_id,
    o.ordered_at,
    o.order_date,
    o.order_status,
    case when o.order_status in ('cancelled', 'returned') then 0 else 1 end as is_net_sale
from {{ ref('stg_silver__order_items') }} as i
inner join {{ ref('stg_silver__orders') }} as o
    on o.order_id = i.order_id
left join {{ ref('stg_silver__products') }} as p
    on p.product_id = i.product_id
