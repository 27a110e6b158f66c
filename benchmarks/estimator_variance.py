"""Variance of the gradient estimators on a Gaussian (docs/algorithms/gradient-estimators.md).

d/dmu E_{x ~ N(mu, sigma^2)}[f(x)] for f(x) = x^2 (exact: 2 mu), estimated per sample by the
score function, the score function with a leave-one-out baseline, and the pathwise
(reparameterization) estimator; the plot shows each estimator's per-sample variance as mu varies.

    .venv/bin/python benchmarks/estimator_variance.py

writes docs/algorithms/estimator_variance.png.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from tidyrl.core.distributions import DiagGaussian  # noqa: E402
from tidyrl.core.estimators import (  # noqa: E402
    leave_one_out_baseline,
    pathwise,
    reparameterize,
    score_function,
)

OUT = Path(__file__).resolve().parents[1] / "docs" / "algorithms" / "estimator_variance.png"
N, SIGMA = 20_000, 1.0


def per_sample(mu_value: float, estimator: str) -> torch.Tensor:
    torch.manual_seed(0)
    mu = torch.full((N,), mu_value, requires_grad=True)
    noise = torch.randn(N)
    sigma = torch.tensor(SIGMA)
    if estimator == "pathwise":
        terms = pathwise(reparameterize(mu, sigma, noise) ** 2)
    else:
        x = (mu_value + SIGMA * noise).detach()
        logp = DiagGaussian(mu.unsqueeze(-1), sigma.log().reshape(1)).log_prob(x.unsqueeze(-1))
        f = x**2
        terms = score_function(
            f, logp, leave_one_out_baseline(f) if "baseline" in estimator else None
        )
    (grad,) = torch.autograd.grad(terms.sum(), mu)
    return grad


def main() -> None:
    mus = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ("score function", "score function + baseline", "pathwise"):
        key = "pathwise" if name == "pathwise" else ("baseline" if "baseline" in name else "score")
        rows = [per_sample(m, key) for m in mus]
        variances = [float(g.var()) for g in rows]
        print(
            name,
            [f"{v:.2f}" for v in variances],
            "bias",
            [f"{float(g.mean()) - 2 * m:+.3f}" for g, m in zip(rows, mus)],
        )
        ax.plot(mus, variances, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("mu  (x ~ N(mu, 1), f(x) = x^2)")
    ax.set_ylabel("variance of a one-sample gradient estimate")
    ax.set_title("d/dmu E[x^2]: score function vs pathwise")
    ax.legend()
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
