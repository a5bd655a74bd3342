-- One row per customer, with an age band and the city/state of the home address.
select
    u.user_id,
    u.first_name,
    u.last_name,
    u.email,
    u.phone,
    u.age,
    case
        when u.age is null then 'unknown'
        when u.age < 18 then '13-17'
        when u.age < 25 then '18-24'
        when u.age < 35 then '25-34'
        when u.age < 45 then '35-44'
        when u.age < 55 then '45-54'
        when u.age < 65 then '55-64'
        else '65+'
    end as age_band,
    u.gender,
    u.location_id,
    l.city,
    l.state,
    l.country_code,
    u.signup_at,
    u.updated_at,
    u.pipeline_user,
    u.pipeline_job
from {{ ref('stg_silver__users') }} as u
left join {{ ref('stg_silver__locations') }} as l
    on l.location_id = u.location_id
