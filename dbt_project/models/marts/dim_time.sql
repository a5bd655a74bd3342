-- One row per calendar day from the partition's first to its last order, payment, shipment or
-- delivery date (every day in between, not only days with activity). The spine is built from
-- cross-joined digits (0..9999 days, about 27 years) rather than generate_series or a recursive
-- CTE, so that it also runs on MySQL 8 / MariaDB.
with activity_dates as (
    select order_date as activity_date from {{ ref('stg_silver__orders') }}
    union all
    select cast(paid_at as date) from {{ ref('stg_silver__payments') }}
    union all
    select cast(shipped_at as date) from {{ ref('stg_silver__shipments') }}
    union all
    select cast(delivered_at as date) from {{ ref('stg_silver__shipments') }}
),

bounds as (
    select min(activity_date) as min_date, max(activity_date) as max_date
    from activity_dates
),

digits as (
    select 0 as n union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

offsets as (
    select d1.n + 10 * d2.n + 100 * d3.n + 1000 * d4.n as day_offset
    from digits as d1
    cross join digits as d2
    cross join digits as d3
    cross join digits as d4
),

spine as (
    select {{ gold_add_days('b.min_date', 'o.day_offset') }} as calendar_date
    from bounds as b
    cross join offsets as o
    where {{ gold_add_days('b.min_date', 'o.day_offset') }} <= b.max_date
),

days as (
    select
        calendar_date,
        extract(year from calendar_date) as year,
        extract(quarter from calendar_date) as quarter,
        extract(month from calendar_date) as month,
        extract(day from calendar_date) as day_of_month,
        {{ gold_iso_day_of_week('calendar_date') }} as day_of_week
    from spine
)

select
    {{ gold_date_key('calendar_date') }} as date_key,
    calendar_date,
    {{ gold_bigint('year') }} as year,
    {{ gold_bigint('quarter') }} as quarter,
    {{ gold_bigint('month') }} as month,
    case month
        when 1 then 'January' when 2 then 'February' when 3 then 'March'
        when 4 then 'April' when 5 then 'May' when 6 then 'June'
        when 7 then 'July' when 8 then 'August' when 9 then 'September'
        when 10 then 'October' when 11 then 'November' when 12 then 'December'
    end as month_name,
    {{ gold_bigint('day_of_month') }} as day_of_month,
    {{ gold_bigint('day_of_week') }} as day_of_week,
    case when day_of_week in (6, 7) then true else false end as is_weekend,
    {{ gold_id_column(var('pipeline_user')) }} as pipeline_user,
    {{ gold_id_column(var('pipeline_job')) }} as pipeline_job
from days
