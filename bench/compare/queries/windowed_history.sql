-- Time-windowed aggregation, history: month-to-date total per user at every purchase.
SELECT time AS _time, "user" AS _key,
       SUM(amount) OVER (PARTITION BY "user", date_trunc('month', time) ORDER BY time
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS sum_amount
FROM {purchases}
ORDER BY time
