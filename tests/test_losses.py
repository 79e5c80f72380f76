"""The distillation loss against a plain hand-written reference."""

from __future__ import annotations

import math

import pytest
import torch

from distilbo.distill.losses import distillation_loss


def reference_loss(ss, se, ts, te, sp, ep, mask, alpha_ce, alpha_squad, T):
    """Loops over rows and positions in plain Python floats: softmax, KL and CE written out."""

    def log_softmax(row):
        m = max(row)
        lse = m + math.log(sum(math.exp(x - m) for x in row))
        return [x - lse for x in row]

    def kl_row(s_row, t_row):
        ls = log_softmax([x / T for x in s_row])
        lt = log_softmax([x / T for x in t_row])
        return sum(math.exp(b) * (b - a) for a, b in zip(ls, lt))

    B = len(ss)
    soft = hard = 0.0
    for b in range(B):
        n = int(sum(mask[b]))  # padded positions are not part of the distribution
        soft += (kl_row(ss[b][:n], ts[b][:n]) + kl_row(se[b][:n], te[b][:n])) / 2 * T * T
        hard += (-log_softmax(ss[b][:n])[sp[b]] - log_softmax(se[b][:n])[ep[b]]) / 2
    return alpha_ce * soft / B + alpha_squad * hard / B


@pytest.mark.parametrize("T", [1.0, 2.0, 7.0])
@pytest.mark.parametrize("alpha_ce", [0.0, 0.3, 1.0])
def test_loss_matches_plain_reference(T, alpha_ce):
    g = torch.Generator().manual_seed(int(T * 10 + alpha_ce * 100))
    B, S = 3, 9
    ss, se, ts, te = (torch.randn(B, S, generator=g) * 3 for _ in range(4))
    lengths = torch.tensor([9, 6, 4])
    mask = (torch.arange(S)[None] < lengths[:, None]).long()
    sp, ep = torch.tensor([0, 2, 3]), torch.tensor([0, 5, 3])
    got = distillation_loss(ss, se, teacher_start=ts, teacher_end=te, start_positions=sp, end_positions=ep,
                            attention_mask=mask, alpha_ce=alpha_ce, alpha_squad=1 - alpha_ce, temperature=T)
    want = reference_loss(ss.tolist(), se.tolist(), ts.tolist(), te.tolist(), sp.tolist(), ep.tolist(),
                          mask.tolist(), alpha_ce, 1 - alpha_ce, T)
    assert float(got["loss"]) == pytest.approx(want, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("T", [0.5, 1.0, 3.0, 10.0])
def test_soft_loss_is_zero_when_student_equals_teacher(T):
    logits = torch.randn(4, 12) * 5
    mask = torch.ones(4, 12, dtype=torch.long)
    mask[2, 7:] = 0
    got = distillation_loss(logits, logits.flip(1), teacher_start=logits.clone(), teacher_end=logits.flip(1).clone(),
                            start_positions=torch.zeros(4, dtype=torch.long), end_positions=torch.zeros(4, dtype=torch.long),
                            attention_mask=mask, alpha_ce=1.0, alpha_squad=0.0, temperature=T)
    assert float(got["soft"]) == pytest.approx(0.0, abs=1e-6)
    assert float(got["loss"]) == pytest.approx(0.0, abs=1e-6)
    assert float(got["hard"]) > 0  # the hard term is still there, just weighted 0


def test_padding_values_do_not_change_the_loss():
    ss, ts = torch.randn(2, 6), torch.randn(2, 6)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    kw = dict(start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([2, 3]), attention_mask=mask,
              alpha_ce=0.5, alpha_squad=0.5, temperature=2.0)
    a = distillation_loss(ss, ss, teacher_start=ts, teacher_end=ts, **kw)["loss"]
    ss2, ts2 = ss.clone(), ts.clone()
    ss2[0, 4:] = 100.0
    ts2[0, 4:] = -50.0
    b = distillation_loss(ss2, ss2, teacher_start=ts2, teacher_end=ts2, **kw)["loss"]
    assert float(a) == pytest.approx(float(b), abs=1e-6)


def test_hidden_term_matches_plain_reference():
    """alpha_cos: 1 - cos per real token, averaged over the real tokens, written out with plain floats."""
    g = torch.Generator().manual_seed(5)
    B, S, H = 3, 7, 5
    sh, th = torch.randn(B, S, H, generator=g), torch.randn(B, S, H, generator=g)
    lengths = [7, 4, 2]
    mask = (torch.arange(S)[None] < torch.tensor(lengths)[:, None]).long()
    logits = torch.zeros(B, S)
    kw = dict(teacher_start=logits, teacher_end=logits, start_positions=torch.zeros(B, dtype=torch.long),
              end_positions=torch.zeros(B, dtype=torch.long), attention_mask=mask, alpha_ce=0.4, alpha_squad=0.6,
              temperature=2.0)
    terms = []
    for b in range(B):
        for s in range(lengths[b]):
            u, v = sh[b, s].tolist(), th[b, s].tolist()
            dot, nu, nv = sum(x * y for x, y in zip(u, v)), math.sqrt(sum(x * x for x in u)), math.sqrt(sum(y * y for y in v))
            terms.append(1 - dot / (nu * nv))
    want = sum(terms) / len(terms)
    base = distillation_loss(logits, logits, **kw)
    got = distillation_loss(logits, logits, **kw, alpha_cos=2.5, student_hidden=sh, teacher_hidden=th)
    assert float(got["hidden"]) == pytest.approx(want, rel=1e-5)
    assert float(got["loss"]) == pytest.approx(float(base["loss"]) + 2.5 * want, rel=1e-5)
    assert float(base["hidden"]) == 0.0  # off by default: the loss is the two-term one
    # padded positions do not count, and a student equal to the teacher (up to scale) has no hidden loss
    sh2 = sh.clone()
    sh2[2, 2:] = 99.0
    assert float(distillation_loss(logits, logits, **kw, alpha_cos=1.0, student_hidden=sh2, teacher_hidden=th)["hidden"]) \
        == pytest.approx(want, rel=1e-5)
    same = distillation_loss(logits, logits, **kw, alpha_cos=1.0, student_hidden=3 * th, teacher_hidden=th)
    assert float(same["hidden"]) == pytest.approx(0.0, abs=1e-6)
