"""Interaction frames -> scipy CSR matrices (users x items), float32 as implicit wants."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from models import columns as C
from models.idmap import IdMap


def user_item_matrix(
    pairs: pl.DataFrame, users: IdMap, items: IdMap, value: str | None = C.WEIGHT
) -> sp.csr_matrix:
    """CSR of shape (len(users), len(items)) from a customer/product frame.

    ``value`` names the column holding the cell value; None puts 1.0 in every listed cell.
    Repeated pairs are summed. Ids missing from the maps raise KeyError.
    """
    indexed = users.to_index(pairs, C.CUSTOMER, C.USER_IDX)
    indexed = items.to_index(indexed, C.PRODUCT, C.ITEM_IDX)
    rows = indexed.get_column(C.USER_IDX).to_numpy()
    cols = indexed.get_column(C.ITEM_IDX).to_numpy()
    data = (
        np.ones(indexed.height, dtype=np.float32)
        if value is None
        else indexed.get_column(value).cast(pl.Float32).to_numpy()
    )
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(users), len(items)), dtype=np.float32)
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix
