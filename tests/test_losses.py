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


def brute_margin(start, end, context, max_len):
    """Null score minus the best valid span, by looping over every (i, j) pair in plain floats."""
    best = -math.inf
    for i in range(len(start)):
        for j in range(i, min(len(start), i + max_len)):
            if context[i] and context[j]:
                best = max(best, start[i] + end[j])
    return start[0] + end[0] - best


def test_null_margin_matches_a_hand_computation_and_a_brute_force_loop():
    from distilbo.distill.losses import null_margin

    # hand case: CLS 1 + 0.5; context tokens 2..4; spans up to 2 tokens: best is start 2 (3.0) + end 3 (2.0) = 5.0
    # (start 2 + end 4 = 3.0 + 9.0 would be 3 tokens long; start 1 is a question token; 3-4 and 4-4 score -11, -1)
    start = torch.tensor([[1.0, 9.0, 3.0, -20.0, -10.0, 0.0]])
    end = torch.tensor([[0.5, 9.0, 1.0, 2.0, 9.0, 0.0]])
    context = torch.tensor([[False, False, True, True, True, False]])
    assert float(null_margin(start, end, context, max_answer_length=2)[0]) == pytest.approx(1.5 - 5.0)
    assert float(null_margin(start, end, context, max_answer_length=3)[0]) == pytest.approx(1.5 - 12.0)
    g = torch.Generator().manual_seed(3)
    B, S = 5, 23
    s, e = torch.randn(B, S, generator=g) * 3, torch.randn(B, S, generator=g) * 3
    ctx = torch.rand(B, S, generator=g) > 0.3
    ctx[:, 0] = False
    for max_len in (1, 4, 30):
        got = null_margin(s, e, ctx, max_answer_length=max_len)
        for b in range(B):
            want = brute_margin(s[b].tolist(), e[b].tolist(), ctx[b].tolist(), max_len)
            assert float(got[b]) == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_margin_term_is_the_binary_kl_of_the_two_decisions():
    from distilbo.distill.losses import margin_kl

    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    for ms, mt, T in ((-1.0, 2.0, 1.0), (3.0, -4.0, 2.0), (0.5, 0.5, 3.0)):
        p, q = sig(mt / T), sig(ms / T)
        want = (p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))) * T * T
        assert float(margin_kl(torch.tensor([ms]), torch.tensor([mt]), T)) == pytest.approx(want, rel=1e-5, abs=1e-7)


def test_null_term_enters_the_loss_with_its_weight_and_pulls_the_student_margin_to_the_teachers():
    from distilbo.distill.losses import null_margin

    g = torch.Generator().manual_seed(8)
    B, S = 4, 12
    ts, te = torch.randn(B, S, generator=g), torch.randn(B, S, generator=g)
    ts[:, 0] -= 3.0  # the teacher answers: its null score is far below its best span
    ctx = torch.zeros(B, S, dtype=torch.bool)
    ctx[:, 4:11] = True
    mask = torch.ones(B, S, dtype=torch.long)
    ss = torch.randn(B, S, generator=g).requires_grad_(True)
    se = torch.randn(B, S, generator=g).requires_grad_(True)
    kw = dict(teacher_start=ts, teacher_end=te, start_positions=torch.zeros(B, dtype=torch.long),
              end_positions=torch.zeros(B, dtype=torch.long), attention_mask=mask, alpha_ce=0.5, alpha_squad=0.5,
              temperature=2.0, context=ctx)
    base = distillation_loss(ss, se, **kw)
    with_null = distillation_loss(ss, se, **kw, alpha_null=3.0)
    assert float(base["null"]) == 0.0 and float(with_null["null"]) > 0
    assert float(with_null["loss"]) == pytest.approx(float(base["loss"]) + 3.0 * float(with_null["null"]), rel=1e-5)
    # gradient steps on the null term alone move every window's margin toward the teacher's
    teacher_m = null_margin(ts, te, ctx)
    gap0 = (null_margin(ss, se, ctx) - teacher_m).abs().detach()
    opt = torch.optim.SGD([ss, se], lr=2.0)
    for _ in range(400):
        opt.zero_grad()
        distillation_loss(ss, se, **{**kw, "alpha_ce": 0.0, "alpha_squad": 0.0}, alpha_null=1.0)["loss"].backward()
        opt.step()
    gap = (null_margin(ss, se, ctx) - teacher_m).abs().detach()
    assert bool((gap < 0.5 * gap0).all()), (gap0, gap)
    assert bool(((null_margin(ss, se, ctx) < 0) == (teacher_m < 0)).all())  # the same decision in every window


def test_null_term_moves_the_null_score_only_never_a_span():
    """Its gradient is zero on every position but the null one (0): it cannot push a right span down."""
    g = torch.Generator().manual_seed(2)
    B, S = 3, 10
    ts, te = torch.randn(B, S, generator=g), torch.randn(B, S, generator=g)
    ctx = torch.zeros(B, S, dtype=torch.bool)
    ctx[:, 3:9] = True
    ss = torch.randn(B, S, generator=g).requires_grad_(True)
    se = torch.randn(B, S, generator=g).requires_grad_(True)
    loss = distillation_loss(ss, se, teacher_start=ts, teacher_end=te, start_positions=torch.zeros(B, dtype=torch.long),
                             end_positions=torch.zeros(B, dtype=torch.long), attention_mask=None, alpha_ce=0.0,
                             alpha_squad=0.0, temperature=1.5, context=ctx, alpha_null=1.0)["loss"]
    loss.backward()
    assert bool((ss.grad[:, 1:] == 0).all() and (se.grad[:, 1:] == 0).all())
    assert bool((ss.grad[:, 0] != 0).all())
