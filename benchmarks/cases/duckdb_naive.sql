-- The same work as the pipeline, hand-written for DuckDB: land the CSVs as text, type and check them,
-- split valid rows from quarantined ones, join the carrier's name, aggregate. {csv_glob} and
-- {airlines_csv} are filled in by duckdb_native.py.
CREATE SCHEMA raw; CREATE SCHEMA normalized; CREATE SCHEMA quarantine; CREATE SCHEMA stats;

CREATE TABLE raw.flights AS
SELECT * FROM read_csv('{csv_glob}', all_varchar = true, nullstr = ['', 'NA'], header = true, filename = true);

CREATE TABLE raw.airlines AS SELECT * FROM read_csv('{airlines_csv}', all_varchar = true, header = true);

CREATE TEMP TABLE typed AS
SELECT
    *,
    TRY_CAST(year AS INTEGER) AS y, TRY_CAST(month AS INTEGER) AS m, TRY_CAST(day AS INTEGER) AS d,
    TRY_CAST(dep_time AS INTEGER) AS dep_time_i, TRY_CAST(sched_dep_time AS INTEGER) AS sched_dep_time_i,
    TRY_CAST(dep_delay AS INTEGER) AS dep_delay_i, TRY_CAST(arr_time AS INTEGER) AS arr_time_i,
    TRY_CAST(sched_arr_time AS INTEGER) AS sched_arr_time_i, TRY_CAST(arr_delay AS INTEGER) AS arr_delay_i,
    TRY_CAST(flight AS INTEGER) AS flight_i, TRY_CAST(air_time AS INTEGER) AS air_time_i,
    TRY_CAST(distance AS INTEGER) AS distance_i
FROM raw.flights;

CREATE TEMP TABLE checked AS
SELECT *, concat_ws('; ',
    CASE WHEN y IS NULL OR m IS NULL OR d IS NULL THEN 'flight_date: not a date' END,
    CASE WHEN NOT regexp_full_match(coalesce(carrier, ''), '[A-Z0-9]{2}') THEN 'carrier: str_matches' END,
    CASE WHEN flight_i IS NULL OR flight_i < 1 THEN 'flight: ge(1)' END,
    CASE WHEN NOT regexp_full_match(coalesce(origin, ''), '[A-Z0-9]{3,4}') THEN 'origin: str_matches' END,
    CASE WHEN NOT regexp_full_match(coalesce(dest, ''), '[A-Z0-9]{3,4}') THEN 'dest: str_matches' END,
    CASE WHEN sched_dep_time_i IS NULL OR sched_dep_time_i NOT BETWEEN 0 AND 2359 THEN 'sched_dep_time: in_range' END,
    CASE WHEN dep_time_i NOT BETWEEN 0 AND 2400 OR (dep_time IS NOT NULL AND dep_time_i IS NULL) THEN 'dep_time: in_range' END,
    CASE WHEN sched_arr_time_i NOT BETWEEN 0 AND 2359 OR (sched_arr_time IS NOT NULL AND sched_arr_time_i IS NULL) THEN 'sched_arr_time: in_range' END,
    CASE WHEN arr_time_i NOT BETWEEN 0 AND 2400 OR (arr_time IS NOT NULL AND arr_time_i IS NULL) THEN 'arr_time: in_range' END,
    CASE WHEN dep_delay_i NOT BETWEEN -1440 AND 2880 OR (dep_delay IS NOT NULL AND dep_delay_i IS NULL) THEN 'dep_delay: in_range' END,
    CASE WHEN arr_delay_i NOT BETWEEN -1440 AND 2880 OR (arr_delay IS NOT NULL AND arr_delay_i IS NULL) THEN 'arr_delay: in_range' END,
    CASE WHEN air_time_i < 1 OR (air_time IS NOT NULL AND air_time_i IS NULL) THEN 'air_time: ge(1)' END,
    CASE WHEN distance_i IS NULL OR distance_i < 1 THEN 'distance: ge(1)' END
) AS reason
FROM typed;

CREATE TABLE normalized.flights AS
SELECT
    make_date(y, m, d) AS flight_date, c.carrier, a.name AS carrier_name, flight_i AS flight, tailnum, origin, dest,
    make_date(y, m, d) + (sched_dep_time_i // 100) * INTERVAL 1 HOUR + (sched_dep_time_i % 100) * INTERVAL 1 MINUTE
        AS scheduled_departure,
    sched_dep_time_i AS sched_dep_time, dep_time_i AS dep_time, sched_arr_time_i AS sched_arr_time,
    arr_time_i AS arr_time, dep_delay_i AS dep_delay, arr_delay_i AS arr_delay, air_time_i AS air_time,
    distance_i AS distance, dep_time_i IS NULL AS cancelled, filename AS _source_file
FROM checked c LEFT JOIN raw.airlines a ON a.carrier = c.carrier
WHERE reason = '';

CREATE TABLE quarantine.flights AS
SELECT * EXCLUDE (reason), reason AS _quarantine_reason FROM checked WHERE reason <> '';

CREATE TABLE stats.carrier_daily_performance AS
SELECT
    carrier, max(carrier_name) AS carrier_name, flight_date, count(*) AS flights,
    sum(CASE WHEN cancelled THEN 1 ELSE 0 END) AS cancelled,
    CAST(avg(dep_delay) AS DOUBLE) AS avg_dep_delay, CAST(avg(arr_delay) AS DOUBLE) AS avg_arr_delay,
    CAST(sum(CASE WHEN arr_delay < 15 THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(count(arr_delay), 0) AS on_time_share
FROM normalized.flights GROUP BY carrier, flight_date ORDER BY carrier, flight_date;

CREATE TABLE stats.route_stats AS
SELECT origin, dest, count(*) AS flights, CAST(avg(air_time) AS DOUBLE) AS avg_air_time, max(distance) AS distance
FROM normalized.flights GROUP BY origin, dest ORDER BY origin, dest;
