-- One row per product, with its category name and department.
select
    p.product_id,
    p.product_name,
    p.sku,
    p.price,
    p.category_id,
    c.category_name,
    c.department,
    p.created_at,
    p.updated_at,
    p.pipeline_user,
    p.pipeline_job
from {{ ref('stg_silver__products') }} as p
left join {{ ref('stg_silver__categories') }} as c
    on c.category_id = p.category_id
