"""The worker itself: queues by task name, time limits, Flower."""

import httpx
import pytest
from celery.result import AsyncResult

from messenger.celery import app
from notifications.tasks import member_added_email_send
from reports.tasks import user_report_count
from testing.celery_tasks import hard_limit, pid, soft_limit_cleanup

pytestmark = pytest.mark.django_db(transaction=True)


def _queue_of(result: AsyncResult) -> str:
    """The queue the worker took the task from (results are extended in the test settings)."""
    return app.backend.get_task_meta(result.id)["queue"]


def test_routes_by_task_name():
    route = app.amqp.router.route
    assert route({}, "notifications.member_added_email_send")["queue"].name == "email"
    assert route({}, "notifications.member_added_summary_send")["queue"].name == "email"
    assert route({}, "notifications.verification_email_send")["queue"].name == "email"
    assert route({}, "notifications.digest_send")["queue"].name == "bulk"
    assert route({}, "notifications.digest_sweep")["queue"].name == "bulk"
    assert route({}, "reports.user_report_count")["queue"].name == "bulk"
    assert route({}, "tests.pid")["queue"].name == "default"


def test_the_worker_takes_each_task_from_its_queue(worker):
    email = member_added_email_send.delay(membership_id=0, recipient_id=0)  # nothing to send
    assert email.get(timeout=30) is False
    assert _queue_of(email) == "email"

    report = user_report_count.delay(run_id="routing-test")
    assert isinstance(report.get(timeout=30), int)
    assert _queue_of(report) == "bulk"

    other = pid.delay()
    other.get(timeout=30)
    assert _queue_of(other) == "default"


def test_past_its_soft_limit_a_task_runs_its_clean_up(worker, tmp_path):
    marker = tmp_path / "cleaned"
    assert soft_limit_cleanup.delay(marker=str(marker)).get(timeout=30) == "cleaned up"
    assert marker.read_text().startswith("cleaned up")


def test_past_its_hard_limit_the_task_dies_and_the_worker_survives(worker):
    before = pid.delay().get(timeout=30)
    result = hard_limit.delay()
    with pytest.raises(Exception) as excinfo:  # the class is rebuilt from the result store
        result.get(timeout=30)
    assert type(excinfo.value).__name__ == "TimeLimitExceeded"
    assert worker.alive
    after = [pid.delay().get(timeout=30) for _ in range(3)]
    assert all(isinstance(p, int) for p in [before, *after])


def test_flower_api_answers_with_the_password_only(flower_url):
    assert httpx.get(f"{flower_url}/api/workers", timeout=10).status_code == 401
    assert httpx.get(f"{flower_url}/api/workers", auth=("flower", "wrong"), timeout=10).status_code == 401
    response = httpx.get(f"{flower_url}/api/workers", auth=("flower", "flower-test-password"), timeout=10)
    assert response.status_code == 200
    assert isinstance(response.json(), dict)
