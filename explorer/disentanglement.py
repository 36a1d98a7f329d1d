"""How much of each factor of the digits (explorer/factors.py) each latent dimension carries, and the
disentanglement scores built on that, following disentanglement_lib's published choices (Locatello et al.,
"Challenging Common Assumptions in the Unsupervised Learning of Disentangled Representations", ICML 2019),
with scikit-learn doing the estimation:

- the latent codes (posterior means of continuous dimensions; a categorical variable's likeliest category)
  and the continuous factors are discretised into 20 equal-width bins per column (disentanglement_lib's
  `_histogram_discretize`, num_bins=20);
- normalised mutual information: I(z_j; v_k) / H(v_k) (`sklearn.metrics.mutual_info_score`, nats);
- MIG (Chen et al., "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018): the mean over factors of
  the gap between the two dimensions with the most normalised mutual information;
- SAP (Kumar et al., "Variational Inference of Disentangled Latent Concepts from Unlabeled Observations",
  ICLR 2018): the mean over factors of the gap between the two dimensions that predict it best, each alone:
  R² of a linear fit for a continuous factor, the test accuracy of a linear SVM (C=0.01, balanced classes) for
  a discrete one; a categorical variable, a label rather than a number, by the correlation ratio eta² and the
  accuracy of each category's most frequent class;
- DCI (Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled Representations",
  ICLR 2018): gradient-boosted trees predict each factor from all dimensions (a classifier for a discrete
  factor, a regressor for a continuous one; scikit-learn's defaults); their feature importances form R
  (dimensions x factors). Disentanglement: 1 - H_K(R_j. normalised) per dimension, weighted by each
  dimension's share of R; completeness: 1 - H_D(R_.k normalised) per factor, averaged; informativeness: the
  trees' mean test accuracy (discrete) or R² (continuous), averaged over factors.

SAP's linear SVMs and DCI's trees train on 80% of the digits and are scored on the other 20% (a fixed
split); SAP's R² for a continuous factor fits nothing and is taken over all the digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 20  # disentanglement_lib's num_bins
TEST_SHARE = 0.2  # the digits SAP's SVMs and DCI's trees are scored on
SPLIT_SEED = 0


@dataclass
class Scores:
    """Every score of one latent code against one set of factors."""

    mutual_information: np.ndarray  # (dimensions, factors): I(z_j; v_k) / H(v_k), in [0, 1]
    mig: float
    sap: float
    dci_disentanglement: float
    dci_completeness: float
    dci_informativeness: float


def discretize(values: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each column of values (N, C) as the index of its equal-width bin (`bins` bins between the column's
    minimum and maximum): int (N, C)."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    out = np.zeros(values.shape, dtype=np.int64)
    for c in range(values.shape[1]):
        edges = np.histogram_bin_edges(values[:, c], bins)
        out[:, c] = np.digitize(values[:, c], edges[1:-1])
    return out


def normalized_mutual_information(latents: np.ndarray, factors: np.ndarray, discrete: list[bool]) -> np.ndarray:
    """I(z_j; v_k) / H(v_k) for each dimension of latents (N, D) (continuous, binned) and each factor of
    factors (N, K) (binned where not `discrete`): float (D, K) in [0, 1]. A factor with one value has no
    entropy: its column is 0."""
    from sklearn.metrics import mutual_info_score

    z = discretize(latents)
    v = np.stack([factors[:, k].astype(np.int64) if discrete[k] else discretize(factors[:, k])[:, 0]
                  for k in range(factors.shape[1])], axis=1)
    table = np.zeros((z.shape[1], v.shape[1]))
    for k in range(v.shape[1]):
        entropy = mutual_info_score(v[:, k], v[:, k])
        if entropy > 0:
            for j in range(z.shape[1]):
                table[j, k] = mutual_info_score(z[:, j], v[:, k]) / entropy
    return table


def gap(scores: np.ndarray) -> float:
    """The mean over factors (columns) of the difference between the two largest scores over dimensions (rows)."""
    if scores.shape[0] < 2:
        return float(scores.max(axis=0).mean())
    top = np.sort(scores, axis=0)[::-1]
    return float((top[0] - top[1]).mean())


def _split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    cut = int(round(n * (1 - TEST_SHARE)))
    return order[:cut], order[cut:]


def sap_matrix(latents: np.ndarray, factors: np.ndarray, discrete: list[bool],
               categories: list[bool] | None = None) -> np.ndarray:
    """How well each latent alone predicts each factor (D, K). A continuous dimension: R² of a linear fit
    (continuous factor) or a linear SVM's held-out accuracy (discrete factor). A categorical variable
    (`categories[j]`: its column holds the likeliest category, a label, not a number to fit a line to): the
    correlation ratio eta² (the share of the factor's variance between its categories' means) or the held-out
    accuracy of the factor's most frequent value in each category (training digits)."""
    from sklearn.svm import LinearSVC

    categories = categories or [False] * latents.shape[1]
    train, test = _split(len(latents))
    matrix = np.zeros((latents.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        v = factors[:, k]
        for j in range(latents.shape[1]):
            z = latents[:, j:j + 1]
            if discrete[k] and len(np.unique(v[train])) < 2:
                continue
            if categories[j]:
                matrix[j, k] = (_majority_accuracy(z[:, 0], v, train, test) if discrete[k] else
                                _correlation_ratio(z[:, 0], v))
            elif discrete[k]:
                classifier = LinearSVC(C=0.01, class_weight="balanced").fit(z[train], v[train])
                matrix[j, k] = (classifier.predict(z[test]) == v[test]).mean()
            else:
                correlation = np.corrcoef(z[:, 0], v)[0, 1] if z.std() > 0 and v.std() > 0 else 0
                matrix[j, k] = correlation**2
    return matrix


def _correlation_ratio(category: np.ndarray, v: np.ndarray) -> float:
    """eta²: the share of v's variance that lies between the means of the categories (0 to 1)."""
    total = ((v - v.mean()) ** 2).sum()
    if total <= 0:
        return 0.0
    within = sum(((v[category == c] - v[category == c].mean()) ** 2).sum() for c in np.unique(category))
    return float(1 - within / total)


def _majority_accuracy(category: np.ndarray, v: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """The test digits' share whose class is the most frequent class of their category among the training
    digits (a category no training digit has predicts the most frequent class overall)."""
    values, counts = np.unique(v[train], return_counts=True)
    overall = values[counts.argmax()]
    guess = {}
    for c in np.unique(category[train]):
        values, counts = np.unique(v[train][category[train] == c], return_counts=True)
        guess[c] = values[counts.argmax()]
    return float(np.mean([guess.get(c, overall) == t for c, t in zip(category[test], v[test])]))


def dci(latents: np.ndarray, factors: np.ndarray, discrete: list[bool]) -> tuple[float, float, float]:
    """DCI (disentanglement, completeness, informativeness) from gradient-boosted trees (see the module)."""
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    train, test = _split(len(latents))
    dimensions, count = latents.shape[1], factors.shape[1]
    importance = np.zeros((dimensions, count))
    informativeness = []
    for k in range(count):
        model = (GradientBoostingClassifier if discrete[k] else GradientBoostingRegressor)(random_state=0)
        model.fit(latents[train], factors[train, k])
        importance[:, k] = np.abs(model.feature_importances_)
        informativeness.append(model.score(latents[test], factors[test, k]))  # accuracy, or R²
    return (*_disentanglement_and_completeness(importance), float(np.mean(informativeness)))


def _disentanglement_and_completeness(importance: np.ndarray) -> tuple[float, float]:
    """DCI's disentanglement and completeness of an importance matrix R (dimensions x factors)."""
    dimensions, count = importance.shape
    total = importance.sum()
    if total <= 0:
        return 0.0, 0.0
    rows = importance / np.maximum(importance.sum(axis=1, keepdims=True), 1e-12)
    columns = importance / np.maximum(importance.sum(axis=0, keepdims=True), 1e-12)
    disentanglement = 1 - _entropy(rows, axis=1, base=count) if count > 1 else np.ones(dimensions)
    completeness = 1 - _entropy(columns, axis=0, base=dimensions) if dimensions > 1 else np.ones(count)
    weights = importance.sum(axis=1) / total
    return float((disentanglement * weights).sum()), float(completeness.mean())


def _entropy(p: np.ndarray, axis: int, base: int) -> np.ndarray:
    logs = np.log(np.where(p > 0, p, 1)) / np.log(base)
    return -(p * logs).sum(axis=axis)


def score(latents: np.ndarray, factors: np.ndarray, discrete: list[bool], categories: list[bool] | None = None) -> Scores:
    """Every score of latents (N, D) against factors (N, K), `discrete[k]` telling which factors are classes
    (their values whole numbers) and which are measures, `categories[j]` which latents are categorical
    variables (their likeliest category; SAP then scores them as labels: sap_matrix). Rows with a NaN factor (a gray digit's hue) are left
    out by the caller. A constant factor gets a column of zeros in the MI table and no part in MIG, SAP and DCI
    (its trees would score it perfectly predicted and perfectly complete); ValueError if all are constant."""
    latents, factors = np.asarray(latents, dtype=np.float64), np.asarray(factors, dtype=np.float64)
    if latents.ndim != 2 or factors.ndim != 2 or len(latents) != len(factors) or factors.shape[1] != len(discrete):
        raise ValueError(f"latents (N, D) and factors (N, K) with K discrete flags, not {latents.shape}, "
                         f"{factors.shape}, {len(discrete)}")
    table = normalized_mutual_information(latents, factors, discrete)
    varying = [k for k in range(factors.shape[1]) if np.ptp(factors[:, k]) > 0]  # a constant factor (the gray
    if not varying:  # coloring's brightness) has nothing to carry: it would count as perfectly complete
        raise ValueError("every factor is constant: there is nothing to score")
    factors, discrete = factors[:, varying], [discrete[k] for k in varying]
    d, c, i = dci(latents, factors, discrete)
    return Scores(table, gap(table[:, varying]), gap(sap_matrix(latents, factors, discrete, categories)), d, c, i)


def factor_directions(means: np.ndarray, factors: np.ndarray, active: np.ndarray,
                      codes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each factor, the direction of the latent space that best predicts it: the least-squares fit
    v ≈ w · z + u · c + b of the factor on the posterior means z of the active dimensions and, where the VAE has
    categorical variables, their one-hot codes c (`sklearn.linear_model.LinearRegression`), over the digits
    where the factor is known (not NaN). The codes are there so that w is the factor's direction among digits
    of the same code: without them, a joint VAE's direction for thickness learns which digits are thin (the
    1s) rather than what thickens a digit. An inactive dimension's mean barely moves, and a fit would give it a
    large weight for noise: it is left out. means (N, D), factors (N, K), active (D,) bool, codes (N, C) or
    None -> directions float64 (K, D), each w / |w| (unit length, 0 on inactive dimensions; all 0 for a factor
    with nothing to fit), and R² (K,): the share of the factor's variance that w explains beyond the codes
    ((R²(z, c) - R²(c)) / (1 - R²(c)); R²(z) without codes)."""
    from sklearn.linear_model import LinearRegression

    means, factors = np.asarray(means, dtype=np.float64), np.asarray(factors, dtype=np.float64)
    active = np.asarray(active, dtype=bool)
    codes = np.zeros((len(means), 0)) if codes is None else np.asarray(codes, dtype=np.float64)
    directions, r2 = np.zeros((factors.shape[1], means.shape[1])), np.zeros(factors.shape[1])
    for k in range(factors.shape[1]):
        known = ~np.isnan(factors[:, k])
        if not active.any() or known.sum() < 2 or np.ptp(factors[known, k]) == 0:
            continue
        v, c = factors[known, k], codes[known]
        z = np.column_stack([means[known][:, active], c])
        fit = LinearRegression().fit(z, v)
        w = fit.coef_[:int(active.sum())]
        by_codes = LinearRegression().fit(c, v).score(c, v) if c.shape[1] else 0.0
        norm = np.linalg.norm(w)
        if norm > 0 and by_codes < 1 - 1e-6:  # a factor the codes give (the palette's brightness): nothing left
            directions[k, active] = w / norm
            r2[k] = max(0.0, (fit.score(z, v) - by_codes) / (1 - by_codes))
    return directions, r2
