-- Aggregation, snapshot: total per user.
SELECT "user" AS _key, SUM(amount) AS sum_amount
FROM {purchases}
GROUP BY "user"
