"""Column names shared by polars code, SQL output and tests (one source of truth)."""

from __future__ import annotations

CUSTOMER = "customer_id"
PRODUCT = "product_id"
WEIGHT = "weight"
CATEGORY = "category"
EMAIL_CONSENT = "email_consent"
USER_IDX = "user_idx"
ITEM_IDX = "item_idx"
RANK = "rank"
SCORE = "score"
SOURCE = "source"
CHANNEL = "channel"
REASON = "reason"  # a reason code (models.reasons): restock, viewed, bought, goes_with, ...
ANCHOR = "anchor_id"  # the product the reason refers to, where the code has one
REASON_TEXT = "reason_text"  # the reason as a customer reads it
SEGMENT = "segment"  # the customer's segment tonight (models.segments)

# Offer export columns, in file order.
OFFER_COLUMNS = (CUSTOMER, RANK, PRODUCT, SCORE, SOURCE, REASON, ANCHOR, REASON_TEXT, SEGMENT)

# Values of the ``source`` column: why an item is in a list. A model's own picks carry its
# kind (als, bpr, item_cosine, item_bm25, popular, popular_category); these are the others.
SOURCE_MODEL = "als"  # the default kind
SOURCE_FILL = "popular_fill"
SOURCE_COLD_START = "popular_cold_start"
SOURCE_NEW = "new"  # a discovery slot for a product with no interactions yet

CHANNEL_SHOP = "shop"
CHANNEL_EMAIL = "email"
CHANNEL_WINBACK = "winback"  # re-engagement email for lapsing customers
