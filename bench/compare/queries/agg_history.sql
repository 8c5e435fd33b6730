-- Aggregation, history: running total per user at every purchase, in time order.
-- {purchases} etc. are replaced by read_parquet('<path>') by run_duckdb.py.
SELECT time AS _time, "user" AS _key,
       SUM(amount) OVER (PARTITION BY "user" ORDER BY time
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS sum_amount
FROM {purchases}
ORDER BY time
