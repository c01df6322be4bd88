-- Every product loaded, with what a customer reads about it (titles for reasons) and the
-- links an email shows (url, image_url; NULL where the source has none). The latest snapshot
-- loaded: a backfill shows today's titles, prices and links.
select
    product_id,
    title,
    category,
    price,
    url,
    image_url
from products
order by product_id;
