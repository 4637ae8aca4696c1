"""The warm-up-then-cosine schedule, stepped as BasicSR's training loop steps it, and the scheduler table."""
import math

import pytest
import torch

import mprnet_plugin  # noqa: F401  (registers the schedulers)
from mprnet_plugin.training.lr_scheduler import LinearWarmupCosineLR, build_scheduler

BASE_LR, ETA_MIN, TOTAL, WARMUP = 2e-4, 1e-6, 100, 10


def expected_lr(t: int) -> float:
    """The documented formula for 1-based iteration t, written out independently."""
    if t <= WARMUP:
        return BASE_LR * t / WARMUP
    return ETA_MIN + (BASE_LR - ETA_MIN) * (1 + math.cos(math.pi * min(t - WARMUP, TOTAL - WARMUP)
                                                         / (TOTAL - WARMUP))) / 2


def lrs_per_iteration(scheduler_opt: dict, iterations: int) -> list:
    """The lr in force at each iteration 1..n when stepped like BaseModel.update_learning_rate (step before t > 1)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=BASE_LR)
    scheduler = build_scheduler(optimizer, scheduler_opt, total_iter=TOTAL)
    seen = []
    for t in range(1, iterations + 1):
        if t > 1:
            scheduler.step()
        seen.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
    return seen


def test_warmup_then_cosine_matches_formula_at_chosen_iterations():
    lrs = lrs_per_iteration({'type': 'LinearWarmupCosineLR', 'warmup_iter': WARMUP, 'eta_min': ETA_MIN}, TOTAL + 20)
    for t in (1, 2, 5, 10, 11, 30, 55, 77, 99, 100, 101, 120):
        assert lrs[t - 1] == pytest.approx(expected_lr(t), rel=1e-9, abs=1e-15), t
    assert lrs[0] == pytest.approx(BASE_LR / WARMUP)
    assert lrs[WARMUP - 1] == pytest.approx(BASE_LR)
    assert lrs[(WARMUP + TOTAL) // 2 - 1] == pytest.approx((BASE_LR + ETA_MIN) / 2)  # half-way down the cosine
    assert lrs[TOTAL - 1] == pytest.approx(ETA_MIN)
    assert lrs[-1] == pytest.approx(ETA_MIN)  # past total_iter it stays at eta_min instead of crashing
    assert all(a < b for a, b in zip(lrs[:WARMUP - 1], lrs[1:WARMUP]))
    assert all(a >= b for a, b in zip(lrs[WARMUP:TOTAL - 1], lrs[WARMUP + 1:TOTAL]))


def test_no_warmup_starts_at_base_lr_and_total_can_be_explicit():
    lrs = lrs_per_iteration({'type': 'LinearWarmupCosineLR', 'total_iter': 50, 'eta_min': 0.0}, 50)
    assert lrs[0] == pytest.approx(BASE_LR * (1 + math.cos(math.pi / 50)) / 2)
    assert lrs[24] == pytest.approx(BASE_LR / 2)
    assert lrs[49] == pytest.approx(0.0, abs=1e-15)


def test_state_dict_round_trip_resumes_the_same_schedule():
    param = torch.nn.Parameter(torch.zeros(1))
    opt_a = torch.optim.Adam([param], lr=BASE_LR)
    sched_a = LinearWarmupCosineLR(opt_a, total_iter=TOTAL, warmup_iter=WARMUP, eta_min=ETA_MIN)
    for _ in range(37):
        sched_a.step()
    opt_b = torch.optim.Adam([param], lr=BASE_LR)
    opt_b.load_state_dict(opt_a.state_dict())
    sched_b = LinearWarmupCosineLR(opt_b, total_iter=TOTAL, warmup_iter=WARMUP, eta_min=ETA_MIN)
    sched_b.load_state_dict(sched_a.state_dict())
    sched_a.step()
    sched_b.step()
    assert opt_b.param_groups[0]['lr'] == pytest.approx(opt_a.param_groups[0]['lr'])
    assert opt_b.param_groups[0]['lr'] == pytest.approx(expected_lr(39))


def test_basicsr_schedulers_keep_working():
    multistep = lrs_per_iteration({'type': 'MultiStepLR', 'milestones': [3, 6], 'gamma': 0.5}, 8)
    assert multistep[2] == pytest.approx(BASE_LR)
    assert multistep[3] == pytest.approx(BASE_LR / 2)
    assert multistep[7] == pytest.approx(BASE_LR / 4)
    cosine = lrs_per_iteration({'type': 'CosineAnnealingRestartLR', 'periods': [10], 'eta_min': 0}, 10)
    assert cosine[5] == pytest.approx(BASE_LR / 2)


def test_bad_scheduler_options_are_named():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=BASE_LR)
    with pytest.raises(ValueError, match="'Cosine'.*LinearWarmupCosineLR"):
        build_scheduler(optimizer, {'type': 'Cosine'}, TOTAL)
    with pytest.raises(ValueError, match='needs a type'):
        build_scheduler(optimizer, {'warmup_iter': 3}, TOTAL)
    with pytest.raises(ValueError, match='warmup_iter'):
        build_scheduler(optimizer, {'type': 'LinearWarmupCosineLR', 'warmup_iter': TOTAL}, TOTAL)
