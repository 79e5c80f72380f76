"""Factorized embeddings: a BERT student's H-wide embedding tables -> ALBERT's E-wide tables + an E -> H map.

Pure tensor math, no model classes (the glue is `distilbo.models.student.factorize_student`).

In a BERT model the embedding tables hold most of the parameters of a small student (MiniLM-L6-H384: 11.9M
of 22.7M), and narrowing the residual stream to shrink them leaves students that barely learn at CPU scale.
ALBERT instead keeps E-wide tables, a LayerNorm over E and a linear map E -> H (`embedding_hidden_mapping_in`);
with one layer group per layer it is otherwise BERT, layer for layer. This module finds the ALBERT weights that
compute what the BERT embeddings compute, up to a rank-(E-1) projection:

    BERT:    e = LN_H(x),  x = word[i] + pos[j] + type[k]            LN_H(x) = g * (x - mean x) / std x + b
    ALBERT:  e = W LN_E(z) + c,  z = word_E[i] + pos_E[j] + type_E[k]

Write x_c = x C for the centred x (C = I - 11^T/H), and B (q x H, q = E - 1, orthonormal rows) for the top-q
principal directions of x_c (each table's second moment averaged over its rows, the tables' summed), so
x_c ~= y B with y = x_c B^T. Put y into E dims with M (q x E, orthonormal rows, each orthogonal to the all-ones
vector): z = y M has mean 0 and |z| = |y|, so with LN_E's gain 1 and bias 0, LN_E(z) = z sqrt(E) / |y|. Then

    word_E = word C B^T M   (and the same for pos, type: the map is linear, so sums carry over)
    W      = sqrt(H / E) diag(g) B^T M        (H x E, a Linear weight)      c = b

gives W LN_E(z) + c = g * y B sqrt(H) / |y| + b, which is LN_H(x) exactly when x_c lies in B's span. At E = H
it always does (x_c has H - 1 free dims), so a full-rank factorization reproduces the BERT model (the tests
check logits to 1e-4); below it, the error is what the top E - 1 directions miss. (LayerNorm's epsilon is
compared over H dims in BERT and E dims here; at BERT's 1e-12 the difference is below float precision.)

Shape glossary:
    V  vocabulary      P  positions      T  token types      H  hidden size      E  embedding size
    q  E - 1
"""

from __future__ import annotations

import math

import torch


def ones_orthogonal_basis(E: int) -> torch.Tensor:
    """M: (E - 1, E) orthonormal rows, each orthogonal to the all-ones vector (a Helmert basis)."""
    M = torch.zeros(E - 1, E, dtype=torch.float64)
    for k in range(1, E):
        M[k - 1, :k] = 1.0
        M[k - 1, k] = -float(k)
        M[k - 1] /= math.sqrt(k * (k + 1))
    return M


def principal_rows(tables: list[torch.Tensor], q: int, weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """B: (q, H), the top-q principal directions of x = word[i] + pos[j] + type[k]: eigenvectors of the sum of
    each table's mean outer product of its centred rows (the tables are drawn independently, so their second
    moments add). Each table is averaged over its own rows, with optional per-row weights (say, how often each
    token occurs), so the 512 position rows count as much as the 30k word rows: every token has one of each.
    Rows of B are orthonormal and orthogonal to the all-ones vector."""
    H = tables[0].shape[1]
    second = torch.zeros(H, H, dtype=torch.float64)
    for n, t in enumerate(tables):
        rows = t.double() - t.double().mean(dim=1, keepdim=True)  # x C
        w = torch.ones(t.shape[0], dtype=torch.float64) if weights is None else weights[n].double()
        second += (rows * (w / w.sum())[:, None]).T @ rows
    vals, vecs = torch.linalg.eigh(second)
    return vecs[:, torch.argsort(vals, descending=True)[:q]].T.contiguous()


def factorize(*, word: torch.Tensor, pos: torch.Tensor, typ: torch.Tensor, ln_weight: torch.Tensor,
              ln_bias: torch.Tensor, embedding_size: int,
              word_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The ALBERT embedding weights that approximate BERT's (see the module doc). Inputs: word (V, H),
    pos (P, H), typ (T, H), the embedding LayerNorm's ln_weight / ln_bias (H,), E = embedding_size <= H,
    optional per-token word_weights (V,) for the principal directions. Returns float32 tensors named as
    ALBERT's: word (V, E), pos (P, E), typ (T, E), ln_weight / ln_bias (E,) = 1 / 0, map_weight (H, E),
    map_bias (H,)."""
    H, E = word.shape[1], embedding_size
    if not 2 <= E <= H:
        raise ValueError(f"embedding_size {E} must be in [2, hidden size {H}]")
    weights = None
    if word_weights is not None:
        weights = [word_weights, torch.ones(pos.shape[0]), torch.ones(typ.shape[0])]
    B = principal_rows([word, pos, typ], E - 1, weights)  # (q, H)
    M = ones_orthogonal_basis(E)  # (q, E)
    proj = B.T @ M  # (H, E)

    def to_e(t: torch.Tensor) -> torch.Tensor:  # x C B^T M
        t = t.double()
        return ((t - t.mean(dim=1, keepdim=True)) @ proj).float()

    return {
        "word": to_e(word), "pos": to_e(pos), "typ": to_e(typ),
        "ln_weight": torch.ones(E), "ln_bias": torch.zeros(E),
        "map_weight": (math.sqrt(H / E) * ln_weight.double()[:, None] * proj).float(),
        "map_bias": ln_bias.detach().clone().float(),
    }
