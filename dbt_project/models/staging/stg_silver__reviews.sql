select
    review_id,
    product_id,
    user_id,
    rating,
    title,
    reviewed_at,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'reviews') }}
where {{ gold_partition_predicate() }}
