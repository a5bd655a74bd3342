-- One row per order date of the partition: orders placed, net sales and customers.
with daily as (
    select
        order_date_key,
        order_date,
        pipeline_user,
        pipeline_job,
        count(*) as orders,
        sum(is_net_sale) as net_orders,
        {{ gold_round('sum(case when is_net_sale = 1 then total_amount else 0 end)', 2) }} as revenue,
        sum(case when is_net_sale = 1 then units else 0 end) as units,
        count(distinct user_id) as customers
    from {{ ref('int_orders_enriched') }}
    group by order_date_key, order_date, pipeline_user, pipeline_job
)

select
    order_date_key as date_key,
    order_date,
    {{ gold_bigint('orders') }} as orders,
    {{ gold_bigint('net_orders') }} as net_orders,
    {{ gold_round('revenue', 2) }} as revenue,
    {{ gold_bigint('units') }} as units,
    {{ gold_round('revenue / nullif(net_orders, 0)', 2) }} as avg_order_value,
    {{ gold_bigint('customers') }} as customers,
    pipeline_user,
    pipeline_job
from daily
