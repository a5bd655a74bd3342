select
    location_id,
    street,
    city,
    state,
    postal_code,
    country_code,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'locations') }}
where {{ gold_partition_predicate() }}
