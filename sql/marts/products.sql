select
    product_id,
    category
from products
order by product_id;
