-- One row per customer (also those without orders): orders, net revenue, reviews, web activity.
with user_orders as (
    select
        user_id,
        count(*) as orders,
        sum(is_net_sale) as net_orders,
        {{ gold_round('sum(case when is_net_sale = 1 then total_amount else 0 end)', 2) }} as revenue,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from {{ ref('int_orders_enriched') }}
    group by user_id
),

user_reviews as (
    select
        user_id,
        count(*) as reviews_written,
        {{ gold_round('avg(rating)', 4) }} as avg_rating_given
    from {{ ref('stg_silver__reviews') }}
    group by user_id
),

user_events as (
    select
        user_id,
        count(*) as web_events,
        count(distinct session_id) as web_sessions
    from {{ ref('stg_silver__web_events') }}
    where user_id is not null
    group by user_id
)

select
    u.user_id,
    {{ gold_bigint('coalesce(o.orders, 0)') }} as orders,
    {{ gold_bigint('coalesce(o.net_orders, 0)') }} as net_orders,
    {{ gold_round('coalesce(o.revenue, 0)', 2) }} as revenue,
    {{ gold_round('o.revenue / nullif(o.net_orders, 0)', 2) }} as avg_order_value,
    o.first_order_at,
    o.last_order_at,
    {{ gold_bigint('coalesce(r.reviews_written, 0)') }} as reviews_written,
    {{ gold_round('r.avg_rating_given', 2) }} as avg_rating_given,
    {{ gold_bigint('coalesce(e.web_events, 0)') }} as web_events,
    {{ gold_bigint('coalesce(e.web_sessions, 0)') }} as web_sessions,
    u.pipeline_user,
    u.pipeline_job
from {{ ref('stg_silver__users') }} as u
left join user_orders as o
    on o.user_id = u.user_id
left join user_reviews as r
    on r.user_id = u.user_id
left join user_events as e
    on e.user_id = u.user_id
