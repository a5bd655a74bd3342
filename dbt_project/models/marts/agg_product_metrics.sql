-- One row per product (also those never sold): net sales, reviews and the view-to-cart funnel.
with product_sales as (
    select
        product_id,
        count(distinct order_id) as orders,
        sum(quantity) as units_sold,
        {{ gold_round('sum(line_amount)', 2) }} as revenue
    from {{ ref('int_order_items_enriched') }}
    where is_net_sale = 1
    group by product_id
),

product_reviews as (
    select
        product_id,
        count(*) as reviews,
        {{ gold_round('avg(rating)', 4) }} as avg_rating
    from {{ ref('stg_silver__reviews') }}
    group by product_id
),

product_events as (
    select
        product_id,
        sum(case when event_type = 'product_view' then 1 else 0 end) as product_views,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_carts
    from {{ ref('stg_silver__web_events') }}
    where product_id is not null
    group by product_id
)

select
    p.product_id,
    p.category_id,
    {{ gold_bigint('coalesce(s.units_sold, 0)') }} as units_sold,
    {{ gold_round('coalesce(s.revenue, 0)', 2) }} as revenue,
    {{ gold_bigint('coalesce(s.orders, 0)') }} as orders,
    {{ gold_bigint('coalesce(r.reviews, 0)') }} as reviews,
    {{ gold_round('r.avg_rating', 2) }} as avg_rating,
    {{ gold_bigint('coalesce(e.product_views, 0)') }} as product_views,
    {{ gold_bigint('coalesce(e.add_to_carts, 0)') }} as add_to_carts,
    {{ gold_round('cast(e.add_to_carts as double) / nullif(e.product_views, 0)', 4) }} as view_to_cart_rate,
    p.pipeline_user,
    p.pipeline_job
from {{ ref('stg_silver__products') }} as p
left join product_sales as s
    on s.product_id = p.product_id
left join product_reviews as r
    on r.product_id = p.product_id
left join product_events as e
    on e.product_id = p.product_id
