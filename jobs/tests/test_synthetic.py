"""The generator's structure (numpy only): a popularity long tail, taste-driven choices, exact distinct pairs."""
import numpy as np

from jobs.recommender import synthetic as syn


def _sample(structure, n=30000, movies=1000, customers=600, seed=5):
    rng = np.random.default_rng(seed)
    model = syn.planted_model(movies, customers, 3, rng, structure)
    cust, movie = syn.sample_structured_pairs(n, model, structure, rng)
    return model, cust, movie


def _top_decile_share(movie, movies):
    counts = np.sort(np.bincount(movie, minlength=movies))[::-1]
    return counts[: movies // 10].sum() / counts.sum()


def test_pairs_are_distinct_and_exactly_as_many_as_asked():
    _, cust, movie = _sample(syn.Structure())
    assert cust.size == 30000
    assert len(set(zip(cust.tolist(), movie.tolist()))) == 30000


def test_popularity_skew_makes_a_long_tail_and_zero_skew_does_not():
    _, _, skewed = _sample(syn.Structure())
    _, _, uniform = _sample(syn.Structure(0, 0, 0, 0))
    assert _top_decile_share(skewed, 1000) > 0.35
    assert _top_decile_share(uniform, 1000) < 0.15  # 10 % plus the spread of equal chances


def test_customers_choose_what_they_like_and_the_ratings_average_mu():
    model, cust, movie = _sample(syn.Structure())
    affinity = np.einsum("ij,ij->i", model.customer_factors[cust], model.movie_factors[movie])
    rng = np.random.default_rng(1)
    random_movie = rng.integers(0, 1000, cust.size)
    baseline = np.einsum("ij,ij->i", model.customer_factors[cust], model.movie_factors[random_movie])
    assert affinity.mean() > baseline.mean() + 0.5 * baseline.std()
    ratings = syn.observe(model, cust, movie, 0.8, 0.0, rng)
    assert abs(ratings.mean() - syn.MU) < 0.15


def test_activity_is_skewed_and_every_customer_rates_something():
    _, cust, _ = _sample(syn.Structure())
    per_customer = np.bincount(cust, minlength=600)
    assert per_customer.min() >= 1
    assert per_customer.max() > 4 * np.median(per_customer)
