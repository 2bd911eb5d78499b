"""celery_app.py - the Celery application of the pool anchor
(celery_bench.py): the Redis broker and result backend named by
MT_BENCH_CELERY_URL, Celery's defaults otherwise (JSON, prefetch 4, acks
on receipt), and one tiny task."""
import os

from celery import Celery

URL = os.environ["MT_BENCH_CELERY_URL"]
app = Celery("celery_app", broker=URL, backend=URL)
app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)


@app.task
def square(x):
    return x * x
