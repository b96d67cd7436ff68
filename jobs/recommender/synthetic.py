"""Synthetic Netflix-format data from a planted low-rank model (numpy only; used by tests, the demo and benchmarks).

Planted model: ``score(u, i) = mu + b_u + b_i + p_u · q_i`` with rank-``rank`` factors; an observed rating is
``clip(round(score + shift + N(0, sigma²)), 1, 5)``. Ratings of the train/test files are dated 2004-01-01 ..
2005-06-30, future and stream ratings 2005-07-01 .. 2005-12-31.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

MU = 3.6
TRAIN_START, TRAIN_DAYS = dt.date(2004, 1, 1), 547
FUTURE_START, FUTURE_DAYS = dt.date(2005, 7, 1), 184


@dataclass
class PlantedModel:
    movie_ids: np.ndarray
    customer_ids: np.ndarray
    movie_bias: np.ndarray
    customer_bias: np.ndarray
    movie_factors: np.ndarray
    customer_factors: np.ndarray

    def score(self, cust_idx: np.ndarray, movie_idx: np.ndarray) -> np.ndarray:
        dots = np.einsum("ij,ij->i", self.customer_factors[cust_idx], self.movie_factors[movie_idx])
        return MU + self.customer_bias[cust_idx] + self.movie_bias[movie_idx] + dots


def planted_model(movies: int, customers: int, rank: int, rng: np.random.Generator) -> PlantedModel:
    factor_sd = (0.8 / rank) ** 0.25  # p·q then has variance rank · sd⁴ = 0.8
    customer_ids = np.sort(rng.choice(np.arange(1, 3 * customers + 1), size=customers, replace=False))
    return PlantedModel(
        movie_ids=np.arange(1, movies + 1),
        customer_ids=customer_ids,
        movie_bias=rng.normal(0.0, 0.4, movies),
        customer_bias=rng.normal(0.0, 0.3, customers),
        movie_factors=rng.normal(0.0, factor_sd, (movies, rank)),
        customer_factors=rng.normal(0.0, factor_sd, (customers, rank)),
    )


def sample_pairs(n: int, movies: int, customers: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct random (customer index, movie index) pairs (capped at the matrix size)."""
    total = movies * customers
    n = min(n, total)
    if n > total // 2:
        flat = rng.permutation(total)[:n]
    else:
        flat = np.unique(rng.integers(0, total, size=int(n * 1.1) + 16))
        while flat.size < n:
            flat = np.unique(np.concatenate([flat, rng.integers(0, total, size=n)]))
        flat = rng.permutation(flat)[:n]
    return flat // movies, flat % movies


def observe(model: PlantedModel, cust_idx, movie_idx, sigma: float, shift: float, rng) -> np.ndarray:
    noisy = model.score(cust_idx, movie_idx) + shift + rng.normal(0.0, sigma, cust_idx.size)
    return np.clip(np.rint(noisy), 1, 5).astype(np.int64)


def date_strings(start: dt.date, days: int) -> np.ndarray:
    return np.array([(start + dt.timedelta(days=d)).isoformat() for d in range(days)])


MALFORMED_TEMPLATES = (
    "{c},{r}",                 # field_count
    "{c},7,{d}",               # rating_out_of_range
    "{c},x,{d}",               # bad_rating
    "cust{c},{r},{d}",         # bad_customer_id
    "{c},{r},2005-02-30",      # bad_date
)
