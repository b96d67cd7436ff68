"""Synthetic Netflix-format data from a planted low-rank model (numpy only; used by tests, the demo and benchmarks).

Planted model: ``score(u, i) = mu + b_u + b_i + p_u · q_i`` with rank-``rank`` factors; an observed rating is
``clip(round(score + shift + N(0, sigma²)), 1, 5)``. Ratings of the train/test files are dated 2004-01-01 ..
2005-06-30, future and stream ratings 2005-07-01 .. 2005-12-31.

Which ratings exist is structured as in real catalogues (:func:`sample_structured_pairs`), so that "most popular"
is a strong baseline and a model has to earn its lift:

* popularity skew — movie ``i`` (in popularity order) is chosen with weight ``(i + 1) ** -popularity_skew`` (a Zipf
  long tail; 0 = uniform), and popular movies are rated a little higher (their bias grows with log-popularity);
* taste clusters — customers belong to one of ``taste_clusters`` groups whose members share a factor centroid, and
  a customer picks movies with weight ``exp(selection · affinity)`` (affinity = ``p_u · q_i`` in standard units),
  so what a customer watches says what the customer likes (0 = taste plays no part in the choice);
* activity skew — customers rate log-normally many movies (a few heavy raters, many light ones).
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
    #: added to every score so that the ratings that exist average ``MU`` (customers choose what they like, so the
    #: scores of chosen pairs run above the planted mean)
    offset: float = 0.0

    def score(self, cust_idx: np.ndarray, movie_idx: np.ndarray) -> np.ndarray:
        dots = np.einsum("ij,ij->i", self.customer_factors[cust_idx], self.movie_factors[movie_idx])
        return MU + self.offset + self.customer_bias[cust_idx] + self.movie_bias[movie_idx] + dots


@dataclass(frozen=True)
class Structure:
    """How observed ratings are chosen (see the module docstring); ``Structure(0, 0, 0)`` = uniform at random."""
    popularity_skew: float = 1.0
    taste_clusters: int = 8
    selection: float = 1.5
    #: log-normal sigma of the ratings per customer (0 = every customer rates about as many movies)
    activity_sigma: float = 0.8

    def as_dict(self) -> dict:
        return {"popularitySkew": self.popularity_skew, "tasteClusters": self.taste_clusters,
                "selection": self.selection, "activitySigma": self.activity_sigma}


def popularity_weights(movies: int, skew: float) -> np.ndarray:
    """Zipf weights of movie indices 0..movies-1 (index 0 the most popular), summing to 1."""
    weights = np.arange(1, movies + 1, dtype=np.float64) ** -skew
    return weights / weights.sum()


def planted_model(movies: int, customers: int, rank: int, rng: np.random.Generator,
                  structure: Structure = Structure()) -> PlantedModel:
    factor_sd = (0.8 / rank) ** 0.25  # p·q then has variance rank · sd⁴ = 0.8
    customer_ids = np.sort(rng.choice(np.arange(1, 3 * customers + 1), size=customers, replace=False))
    movie_bias = rng.normal(0.0, 0.4, movies)
    customer_factors = rng.normal(0.0, factor_sd, (customers, rank))
    if structure.popularity_skew > 0:
        # popular movies are liked a little more: bias rises by 0.15 per e-fold of popularity (centred)
        log_pop = np.log(popularity_weights(movies, structure.popularity_skew))
        movie_bias = movie_bias + 0.15 * (log_pop - log_pop.mean())
    if structure.taste_clusters > 0:
        # members of a cluster share most of their taste: centroid (81 % of the variance) + individual part
        centroids = rng.normal(0.0, factor_sd, (structure.taste_clusters, rank))
        cluster = rng.integers(0, structure.taste_clusters, customers)
        customer_factors = 0.9 * centroids[cluster] + np.sqrt(1 - 0.81) * customer_factors
    return PlantedModel(
        movie_ids=np.arange(1, movies + 1),
        customer_ids=customer_ids,
        movie_bias=movie_bias,
        customer_bias=rng.normal(0.0, 0.3, customers),
        movie_factors=rng.normal(0.0, factor_sd, (movies, rank)),
        customer_factors=customer_factors,
    )


def ratings_per_customer(n: int, customers: int, movies: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """How many movies each customer rates: log-normal shares of ``n`` (each ≥ 1, ≤ ``movies``), summing to ``n``
    (capped at the matrix size)."""
    n = min(n, movies * customers)
    counts = np.ones(customers, dtype=np.int64)
    remaining = n - customers
    while remaining > 0:
        room = movies - counts
        share = rng.lognormal(0.0, sigma, customers) * (room > 0)
        extra = np.minimum(rng.multinomial(remaining, share / share.sum()), room)
        counts += extra
        remaining = n - int(counts.sum())
    if remaining < 0:  # fewer ratings than customers: the first n customers rate one movie each
        counts[n:] = 0
    return counts


def sample_structured_pairs(n: int, model: PlantedModel, structure: Structure,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct (customer index, movie index) pairs in random order: per customer its count of movies drawn
    without replacement with weight ``popularity × exp(selection · affinity)`` (Gumbel top-k, in chunks of
    customers). Sets ``model.offset`` so that the chosen pairs' scores average ``MU``."""
    customers, movies = model.customer_factors.shape[0], model.movie_factors.shape[0]
    counts = ratings_per_customer(n, customers, movies, structure.activity_sigma, rng)
    log_pop = np.log(popularity_weights(movies, structure.popularity_skew))
    affinity_sd = float(np.std(model.customer_factors @ model.movie_factors[: min(movies, 200)].T)) or 1.0
    cust_parts, movie_parts = [], []
    chunk = max(1, 2_000_000 // movies)
    for start in range(0, customers, chunk):
        stop = min(customers, start + chunk)
        logits = log_pop + structure.selection * (model.customer_factors[start:stop] @ model.movie_factors.T) / affinity_sd
        keys = logits + rng.gumbel(size=logits.shape)
        order = np.argsort(-keys, axis=1)
        take = counts[start:stop]
        mask = np.arange(movies)[None, :] < take[:, None]
        rows = np.broadcast_to(np.arange(start, stop)[:, None], order.shape)
        cust_parts.append(rows[mask])
        movie_parts.append(order[mask])
    cust_idx, movie_idx = np.concatenate(cust_parts), np.concatenate(movie_parts)
    model.offset = 0.0
    model.offset = MU - float(np.mean(model.score(cust_idx, movie_idx)))
    shuffle = rng.permutation(cust_idx.size)
    return cust_idx[shuffle], movie_idx[shuffle]


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
