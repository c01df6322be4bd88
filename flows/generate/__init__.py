"""A realistic synthetic shop: customers, products, orders, order lines and browsing events.

The generator writes source files that follow :mod:`flows.contract`, with planted structure that
a recommender can learn, shaped like a real shop under a time split:

* products belong to categories; inside a category, popularity follows a Zipf-like power law,
  and every product's popularity rises and falls on its own seasonal curve, so bestsellers churn;
* every customer has a taste (a sparse Dirichlet over categories) and an activity level; each
  browsing session picks one category from that taste (or, now and then, from global category
  popularity) and views products from that category as popular at the session's time;
* views turn into add-to-cart events, carts into orders; a bought product may add one of its
  complements (often from another category) to the order; some lines are returned later;
* consumables (a share of the products, each with its own interval, few of them configured in
  the products file) become habits: the customer buys them again on their cycle.

Modules: ``params`` (the realism parameters and :class:`ShopShape`), ``catalogue``,
``browsing`` (customers, sessions, events), ``orders`` (checkouts, returns, habits), ``writer``
(files) and ``shop`` (chunks and the entry point). Customers are processed in chunks (one part
file per chunk and entity), all work inside a chunk is vectorised with numpy, and every chunk
draws from its own generator spawned from the seed, so the same arguments give byte-identical
files and memory stays bounded whatever the customer count.
"""

from flows.generate.params import CONSENT_SHARE, ShopShape
from flows.generate.shop import GenerationSummary, generate_shop, planted_products
from flows.generate.writer import arrow_schema, contract_paths

__all__ = [
    "CONSENT_SHARE",
    "GenerationSummary",
    "ShopShape",
    "arrow_schema",
    "contract_paths",
    "generate_shop",
    "planted_products",
]
