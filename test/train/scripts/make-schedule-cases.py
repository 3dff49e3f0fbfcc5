"""Writes test/train/schedule-cases.json: unilm utils.cosine_scheduler (re-typed from
beit3/utils.py at commit 768a3c8, numpy) on a few settings, the expected values of
test/train/schedule.test.ts. Run: python3 test/train/scripts/make-schedule-cases.py"""
import json, math, os
import numpy as np


def cosine_scheduler(base_value, final_value, epochs, niter_per_ep, warmup_epochs=0,
                     start_warmup_value=0, warmup_steps=-1, sched_type="cos"):
    warmup_schedule = np.array([])
    warmup_iters = warmup_epochs * niter_per_ep
    if warmup_steps > 0:
        warmup_iters = warmup_steps
    if warmup_epochs > 0:
        warmup_schedule = np.linspace(start_warmup_value, base_value, warmup_iters)
    if sched_type == "cos":
        iters = np.arange(epochs * niter_per_ep - warmup_iters)
        schedule = np.array([final_value + 0.5 * (base_value - final_value) *
                             (1 + math.cos(math.pi * i / (len(iters)))) for i in iters])
    else:
        schedule = np.linspace(base_value, final_value, epochs * niter_per_ep - warmup_iters)
    schedule = np.concatenate((warmup_schedule, schedule))
    assert len(schedule) == epochs * niter_per_ep
    return schedule


CASES = [
    ([5e-3, 1e-5, 1, 4], dict(warmup_epochs=1, warmup_steps=2)),      # train-ref BEiT-3
    ([2e-3, 1e-5, 1, 5], dict(warmup_epochs=1, warmup_steps=2)),      # train-ref VQ-KD
    ([3e-4, 1e-6, 3, 7], dict(warmup_epochs=2)),
    ([1e-3, 0.0, 2, 5], dict()),
    ([0.1, 0.01, 2, 3], dict(warmup_epochs=1, start_warmup_value=0.05)),
    ([7e-4, 3e-5, 4, 3], dict(warmup_epochs=1, warmup_steps=5, sched_type="linear")),
    ([1e-3, 1e-5, 1, 3], dict(warmup_epochs=1, warmup_steps=1)),
    ([5e-4, 1e-6, 10, 100], dict(warmup_epochs=5)),
]
out = [dict(args=a, kw=kw, expected=[float(x) for x in cosine_scheduler(*a, **kw)]) for a, kw in CASES]
path = os.path.join(os.path.dirname(__file__), "..", "schedule-cases.json")
with open(path, "w") as f:
    json.dump(out, f)
