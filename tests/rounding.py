"""Tolerances from the dtype and the size of the reduction, not from one CPU's luck.

Two computations of the same sums of products (a convolution, a matrix product and their gradients) may
add their terms in different orders: another CPU's vector width, another kernel, another layout. Each
is within gamma_n * sum |products| of the exact sums, with gamma_n = n u / (1 - n u), n the number of
terms and u the dtype's unit roundoff (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
2002, eq. 3.5); so the two are within twice that of each other, on any machine.
"""

import torch


def assert_same_sums(actual: torch.Tensor, expected: torch.Tensor, magnitude: torch.Tensor, terms: int) -> None:
    """actual and expected: the same sums of at most `terms` products, each computed in actual's dtype;
    magnitude: the sums of the products' absolute values (for a multilinear computation, the same
    computation on the inputs' absolute values), elementwise. Asserts the rounding bound above."""
    u = torch.finfo(actual.dtype).eps / 2
    gamma = terms * u / (1 - terms * u)
    bound = 2 * gamma * magnitude.to(actual.dtype)
    excess = (actual - expected).abs() - bound
    assert actual.shape == expected.shape and (excess <= 0).all(), (
        f"{int((excess > 0).sum())} of {excess.numel()} values differ by more than the rounding bound of "
        f"{terms} terms in {actual.dtype} (largest excess {excess.max().item():.3g})")
