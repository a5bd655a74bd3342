-- One row per address of the partition.
select
    location_id,
    street,
    city,
    state,
    postal_code,
    country_code,
    pipeline_user,
    pipeline_job
from {{ ref('stg_silver__locations') }}
