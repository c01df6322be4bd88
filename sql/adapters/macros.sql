-- Macros every adapter's SQL may use.
-- Email consent that is stable across imports: the first 32 bits of md5(customer_id) below a
-- threshold (flows.adapters.core.consent_threshold turns the wanted share into it).
create or replace temp macro stable_consent(key, threshold) as
    ('0x' || substr(md5(key), 1, 8))::ubigint < threshold;
