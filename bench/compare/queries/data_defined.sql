-- Data-defined windows: at every purchase, the running mean (over the user's purchases)
-- of the number of page views since the user's previous purchase.
WITH activity AS (
  SELECT "user", time, 0 AS is_purchase FROM {page_views}
  UNION ALL
  SELECT "user", time, 1 AS is_purchase FROM {purchases}
), segmented AS (
  -- segment = number of the user's purchases strictly before this row; a purchase closes
  -- the segment its preceding page views belong to.
  SELECT "user", time, is_purchase,
         SUM(is_purchase) OVER (PARTITION BY "user" ORDER BY time
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           - is_purchase AS segment
  FROM activity
), counted AS (
  SELECT "user", time, is_purchase,
         SUM(1 - is_purchase) OVER (PARTITION BY "user", segment ORDER BY time
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS views
  FROM segmented
)
SELECT time AS _time, "user" AS _key,
       AVG(views) OVER (PARTITION BY "user" ORDER BY time
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS mean_views
FROM counted
WHERE is_purchase = 1
ORDER BY time
