select
    category_id,
    name as category_name,
    department,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'categories') }}
where {{ gold_partition_predicate() }}
