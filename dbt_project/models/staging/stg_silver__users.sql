select
    user_id,
    first_name,
    last_name,
    email,
    phone,
    age,
    gender,
    location_id,
    signup_at,
    updated_at,
    pipeline_user,
    pipeline_job
from {{ source('silver', 'users') }}
where {{ gold_partition_predicate() }}
