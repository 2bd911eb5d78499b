"""rq_tasks.py - the tiny task of the RQ anchor (rq_bench.py)."""


def square(x):
    return x * x
