"""Alerts end to end against real local SMTP and webhook servers: a budget crossing a threshold sends one
mail and one webhook, once per window; delivery survives a restart; stuck liens and denial spikes fire."""

from __future__ import annotations

from collections.abc import Callable

from hpcpolicy.engine import Request
from hpcpolicy.ledger import LienState
from hpcpolicy.ledger.alerts import DeliveryState
from tests.alerts.conftest import World, alerting_policy
from tests.alerts.servers import Hook, Mailbox, webhook

Servers = tuple[int, Mailbox, Hook]


def test_a_budget_crossing_a_threshold_sends_one_mail_and_one_webhook(
    world_of: Callable[..., World], servers: Servers
) -> None:
    _, box, hook = servers
    world = world_of()
    world.use(820)
    world.tick()
    [mail] = box.mails
    assert mail.recipients == ["pi@uni.example"] and mail.sender == "alerts@hpc.example"
    assert mail.message["Subject"].startswith("[hpcpolicy] project:proj: 82 % of the monthly budget used")
    body = mail.message.get_content()
    assert "Rule: budgets" in body and "Dashboard: https://hpc.example/ui/scopes/project:proj" in body
    [post] = hook.posts
    assert set(post) == {"text"} and "82 % of the monthly budget used (cpu_hours 820 of 1,000)" in post["text"]
    assert post["text"].endswith("https://hpc.example/ui/scopes/project:proj")

    world.clock.advance(minutes=1)
    world.tick()  # the same window: nothing more
    assert len(box.mails) == 1 and len(hook.posts) == 1

    world.use(140)
    world.clock.advance(minutes=1)
    world.tick()
    assert len(box.mails) == 2 and len(hook.posts) == 2
    assert "96 %" in box.mails[1].message["Subject"] and "96 %" in hook.posts[1]["text"]
    world.tick()
    assert len(box.mails) == 2 and len(hook.posts) == 2

    world.clock.now = world.clock.now.replace(month=12, day=2)  # the next window starts from nothing
    world.use(830)
    world.tick()
    assert len(box.mails) == 3 and len(hook.posts) == 3 and "83 %" in hook.posts[2]["text"]
    fired = world.gov.alerts.fired(["project:proj"])
    assert [a.alert.condition for a in fired] == ["used:0.8", "used:0.95", "used:0.8"]
    assert all(d.state is DeliveryState.DELIVERED and d.attempts == 1 for a in fired for d in a.deliveries)


def test_delivery_survives_a_restart_and_is_made_once(world_of: Callable[..., World], unused_port: int) -> None:
    down = f"http://127.0.0.1:{unused_port}/hooks/T000/B000/secret-token"
    world = world_of(webhooks={"ops": down})
    world.use(900)
    world.tick()  # fired; the receiver is down
    [alert] = world.gov.alerts.fired()
    hook_state = next(d for d in alert.deliveries if d.channel == "webhook")
    assert hook_state.state is DeliveryState.PENDING and hook_state.attempts == 1
    assert hook_state.last_error is not None and "ConnectError" in hook_state.last_error
    assert "secret-token" not in hook_state.last_error and hook_state.next_attempt_at is not None
    assert 15 <= (hook_state.next_attempt_at - world.clock.now).total_seconds() <= 30

    gov = world.restart()  # a new process over the same database
    world.clock.advance(seconds=31)
    with webhook(port=unused_port) as hook:
        gov.alerts.evaluate()  # nothing fires twice
        gov.alerts.deliver_due()
        world.clock.advance(hours=2)
        world.tick()
        assert len(hook.posts) == 1 and "90 %" in hook.posts[0]["text"]
    [again] = gov.alerts.fired()
    assert [(d.channel, d.state, d.attempts) for d in again.deliveries] == [
        ("email", DeliveryState.DELIVERED, 1), ("webhook", DeliveryState.DELIVERED, 2)]  # fmt: skip


def test_retries_back_off_and_give_up_with_the_error(world_of: Callable[..., World], servers: Servers) -> None:
    _, _, hook = servers
    hook.script += ["500"] * 3
    world = world_of(max_attempts=3, retry_max_seconds=60)
    world.use(600)
    world.tick()
    for _ in range(4):
        world.clock.advance(seconds=61)
        world.gov.alerts.deliver_due()
    [alert] = world.gov.alerts.fired()
    state = next(d for d in alert.deliveries if d.channel == "webhook")
    assert state.state is DeliveryState.FAILED and state.attempts == 3 and hook.posts == []
    assert state.last_error == "webhook 'ops' answered 500: ok" and state.next_attempt_at is None


def test_a_permanent_refusal_is_given_up_at_once(world_of: Callable[..., World], servers: Servers) -> None:
    _, box, hook = servers
    hook.script.append("404")
    rules = [{"name": "budgets", "used": [0.5], "channels": ["email", "ops"]}]
    policy = alerting_policy(rules, contacts=("bad-pi@uni.example",))
    world = world_of(policy)
    world.use(600)
    world.tick()
    [alert] = world.gov.alerts.fired()
    states = {d.channel: d for d in alert.deliveries}
    assert states["email"].state is DeliveryState.FAILED and states["email"].attempts == 1
    assert states["email"].last_error is not None and states["email"].last_error.startswith("SMTP refused")
    assert states["webhook"].state is DeliveryState.FAILED and "answered 404" in (states["webhook"].last_error or "")
    assert box.mails == [] and hook.posts == []


def test_a_stuck_lien_alerts_once(world_of: Callable[..., World], servers: Servers) -> None:
    _, _, hook = servers
    world = world_of()
    outcome = world.gov.decide(Request(user_id="u", cpus=1, walltime_hours=2), "dev", reserve=True)
    assert outcome.lien_id is not None
    world.gov.jobs.start(outcome.lien_id, job_id="4242")
    world.clock.advance(hours=2, minutes=59)
    world.tick()
    assert hook.posts == []  # within walltime and grace
    world.clock.advance(minutes=2)
    world.tick()
    world.clock.advance(hours=5)
    world.tick()
    [post] = hook.posts
    assert "project:proj: job 4242 on hpc (u, cpu) is 1.0 h past its 2 h walltime" in post["text"]
    with world.ledger.session() as tx:
        lien = tx.get_lien(outcome.lien_id)
    assert lien is not None and lien.state is LienState.RUNNING


def test_denials_spiking_on_a_project_alert(world_of: Callable[..., World], servers: Servers) -> None:
    _, _, hook = servers
    world = world_of()
    too_big = Request(user_id="u", cpus=1, walltime_hours=2000)  # over the project's 1,000 CPU-hours
    for _ in range(3):
        assert not world.gov.decide(too_big, "dev").allow
        world.clock.advance(minutes=1)
    world.tick()
    world.tick()
    [post] = hook.posts
    assert "project:proj: 3 requests denied in the last 10 min (alert at 3)" in post["text"]


def test_a_scope_without_contacts_falls_back_to_its_parents(world_of: Callable[..., World], servers: Servers) -> None:
    _, box, _ = servers
    world = world_of(alerting_policy(contacts=()))
    world.use(600)
    world.tick()
    assert [m.recipients for m in box.mails] == [["finance@uni.example"]]


def test_a_sample_reports_each_channel(world_of: Callable[..., World], servers: Servers) -> None:
    _, box, hook = servers
    world = world_of()
    sent = world.gov.alerts.sample("project:proj")
    assert [(s.channel, s.recipient, s.error) for s in sent] == [("email", "pi@uni.example", None),
                                                                 ("webhook", "ops", None)]  # fmt: skip
    assert "test alert" in box.mails[0].message["Subject"] and "test alert" in hook.posts[0]["text"]
    assert world.gov.alerts.fired() == []  # nothing recorded
    broken = world_of(smtp=None, webhooks={})
    assert [s.error for s in broken.gov.alerts.sample("project:proj")] == [
        "no SMTP server configured (HPCPOLICY_SMTP_HOST)", "webhook 'ops' has no URL (HPCPOLICY_ALERT_WEBHOOKS)"]
