select
    product_id,
    category_id,
    name as product_name,
    sku,
    price,
    created_at,
    updated_at,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'products') }}
where {{ gold_partition_predicate() }}
