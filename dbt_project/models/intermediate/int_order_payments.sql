-- One row per order that has payments. Silver allows several payments per order: amounts are
-- summed and the method is that of the first payment (earliest paid_at, then lowest payment_id).
with ranked as (
    select
        order_id,
        payment_id,
        payment_method,
        amount,
        paid_at,
        row_number() over (
            partition by order_id
            order by paid_at, payment_id
        ) as payment_rank
    from {{ ref('stg_silver__payments') }}
)

select
    order_id,
    count(*) as payment_count,
    {{ gold_round('sum(amount)', 2) }} as paid_amount,
    max(case when payment_rank = 1 then payment_method end) as payment_method,
    min(paid_at) as first_paid_at,
    max(paid_at) as last_paid_at
from ranked
group by order_id
