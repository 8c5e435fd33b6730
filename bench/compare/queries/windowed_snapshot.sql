-- Time-windowed aggregation, snapshot: per user, the total of the month of the user's
-- last purchase (the month-to-date total at that purchase).
WITH p AS (
  SELECT "user", amount, date_trunc('month', time) AS month FROM {purchases}
), last_month AS (
  SELECT "user", max(month) AS month FROM p GROUP BY "user"
)
SELECT p."user" AS _key, SUM(p.amount) AS sum_amount
FROM p JOIN last_month USING ("user", month)
GROUP BY p."user"
