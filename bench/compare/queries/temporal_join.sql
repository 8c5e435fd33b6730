-- Temporal join: at every purchase, the item's running average rating as of the purchase
-- time (ASOF join on the latest review at or before the purchase).
WITH review_avg AS (
  SELECT item, time,
         AVG(rating) OVER (PARTITION BY item ORDER BY time
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS avg_rating
  FROM {reviews}
)
SELECT p.time AS _time, p."user" AS _key, r.avg_rating AS average_review
FROM {purchases} p ASOF LEFT JOIN review_avg r
  ON p.item = r.item AND p.time >= r.time
ORDER BY p.time
