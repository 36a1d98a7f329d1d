"""The disentanglement scores (explorer/disentanglement.py) on latents whose answer is known: dimensions that
copy one factor each, dimensions independent of the factors, the same dimensions in another order."""

import numpy as np
import pytest

from explorer.disentanglement import discretize, gap, normalized_mutual_information, score

N = 2000
DISCRETE = [True, False, False, False]  # a digit-like class, then three measures


@pytest.fixture(scope="module")
def factors():
    rng = np.random.default_rng(0)
    return np.column_stack([rng.integers(0, 10, N), rng.uniform(0, 1, N), rng.normal(2, 0.5, N), rng.uniform(-1, 1, N)])


@pytest.fixture(scope="module")
def copies(factors):
    """One dimension per factor, each an affine copy of it (the class with a little noise), and one of noise.
    (A copy through a curve, exp(v), keeps only 0.69 of the measure's information in 20 equal-width bins:
    the bins no longer line up. That is the estimator's, as in disentanglement_lib.)"""
    rng = np.random.default_rng(1)
    latents = np.column_stack([factors[:, 0] + rng.normal(0, 0.05, N), 3 * factors[:, 1] - 1, 2 * factors[:, 2] - 3,
                               -factors[:, 3], rng.normal(0, 1, N)])
    return latents, score(latents, factors, DISCRETE)


def test_dimensions_that_copy_the_factors_score_high(copies):
    _, scores = copies
    assert scores.mig >= 0.9 and scores.dci_disentanglement >= 0.9 and scores.dci_completeness >= 0.9
    assert scores.sap >= 0.5 and scores.dci_informativeness >= 0.9
    assert (scores.mutual_information.argmax(axis=0) == [0, 1, 2, 3]).all()  # each factor found in its dimension


def test_dimensions_independent_of_the_factors_score_near_zero(factors):
    latents = np.random.default_rng(2).normal(0, 1, (N, 5))
    scores = score(latents, factors, DISCRETE)
    assert scores.mig <= 0.05 and scores.dci_disentanglement <= 0.05 and scores.sap <= 0.05
    assert scores.mutual_information.max() <= 0.05


def test_the_scores_do_not_depend_on_the_order_of_the_dimensions(copies, factors):
    latents, scores = copies
    order = [3, 0, 4, 2, 1]
    permuted = score(latents[:, order], factors, DISCRETE)
    assert np.allclose(permuted.mutual_information, scores.mutual_information[order])
    assert permuted.mig == pytest.approx(scores.mig) and permuted.sap == pytest.approx(scores.sap)
    for name in ("dci_disentanglement", "dci_completeness", "dci_informativeness"):
        assert getattr(permuted, name) == pytest.approx(getattr(scores, name), abs=0.02)  # trees break ties by column


def test_the_pieces():
    assert discretize(np.array([[0.0], [0.5], [1.0]]), bins=2).ravel().tolist() == [0, 1, 1]
    assert gap(np.array([[0.9, 0.2], [0.1, 0.5], [0.0, 0.4]])) == pytest.approx((0.8 + 0.1) / 2)
    same = np.arange(100) % 10
    table = normalized_mutual_information(same[:, None].astype(float), same[:, None].astype(float), [True])
    assert table[0, 0] == pytest.approx(1)
    with pytest.raises(ValueError, match="discrete flags"):
        score(np.zeros((10, 2)), np.zeros((10, 3)), [True])


def test_a_constant_factor_changes_no_score(copies, factors):
    """A factor with one value (the brightness of digits painted at full value) carries nothing to find."""
    latents, scores = copies
    with_constant = score(latents, np.column_stack([factors, np.ones(N)]), DISCRETE + [False])
    assert (with_constant.mutual_information[:, -1] == 0).all()
    for name in ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness"):
        assert getattr(with_constant, name) == pytest.approx(getattr(scores, name), abs=1e-9)
    with pytest.raises(ValueError, match="constant"):
        score(latents, np.ones((N, 2)), [False, False])


def test_a_factor_direction_is_the_fit_of_the_factor_on_the_active_dimensions():
    """factor_directions: a factor = 2 z0 - z1 + noise has the unit direction (2, -1, 0) / sqrt 5 and an R² near 1;
    an inactive dimension gets 0 even where the factor follows it; a factor known only on some digits (NaN
    elsewhere) is fitted on those; a constant factor has no direction."""
    from explorer.disentanglement import factor_directions

    rng = np.random.default_rng(3)
    z = rng.normal(0, 1, (N, 4))
    z[:, 3] *= 0.01  # an inactive dimension: its mean barely moves
    factors = np.column_stack([2 * z[:, 0] - z[:, 1] + rng.normal(0, 0.05, N), 100 * z[:, 3] + z[:, 2],
                               np.where(np.arange(N) % 2 == 0, z[:, 2], np.nan), np.ones(N)])
    directions, r2 = factor_directions(z, factors, np.array([True, True, True, False]))
    np.testing.assert_allclose(directions[0], [2 / 5**0.5, -1 / 5**0.5, 0, 0], atol=0.01)
    assert r2[0] > 0.99 and directions[1, 3] == 0 and directions[1, 2] == pytest.approx(1, abs=0.05)
    np.testing.assert_allclose(directions[2], [0, 0, 1, 0], atol=1e-9)
    assert not directions[3].any() and r2[3] == 0
    np.testing.assert_allclose(np.linalg.norm(directions[:3], axis=1), 1)


def test_a_categorical_variable_is_scored_as_a_label():
    """SAP's categorical latents: a variable whose categories are the classes in another order (a label, not a
    number: a line through the category index cannot read it) predicts the class perfectly, and a measure
    that is a function of the category is all between-category variance (eta² 1)."""
    from explorer.disentanglement import sap_matrix

    rng = np.random.default_rng(4)
    label = rng.integers(0, 10, N)
    category = np.array([3, 7, 0, 9, 1, 5, 2, 8, 6, 4])[label].astype(float)
    factors = np.column_stack([label, np.sin(label) + rng.normal(0, 0.01, N)])
    matrix = sap_matrix(category[:, None], factors, [True, False], categories=[True])
    assert matrix[0, 0] == 1.0 and matrix[0, 1] > 0.99
    as_a_number = sap_matrix(category[:, None], factors, [True, False])
    assert as_a_number[0, 0] < 0.5 and as_a_number[0, 1] < 0.5  # what SAP's line and SVM made of it
