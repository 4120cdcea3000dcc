"""Scale-out with a launching lifecycle hook: new instances wait in Pending:Wait; CONTINUE puts
them in service, ABANDON terminates and replaces them (EC2 Auto Scaling user guide, "How
lifecycle hooks work")."""

import pytest

from support import wait_until

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


@pytest.fixture
def warming_group(make_group):
    """One InService instance and a launching hook; the next scale-out waits."""
    group = make_group(desired=1)
    group.put_hook(LAUNCHING, name="warm-up", HeartbeatTimeout=3600, DefaultResult="ABANDON")
    return group


def _scale_to(group, desired):
    group.autoscaling.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=desired)


def test_scale_out_puts_new_instances_into_pending_wait(warming_group):
    _scale_to(warming_group, 3)

    assert sorted(warming_group.states().values()) == ["InService", "Pending:Wait", "Pending:Wait"]


def test_instances_in_pending_wait_count_towards_the_desired_capacity(warming_group):
    _scale_to(warming_group, 2)

    _scale_to(warming_group, 2)

    assert len(warming_group.states()) == 2


def test_continue_puts_the_instance_in_service(warming_group):
    _scale_to(warming_group, 2)
    [joining] = warming_group.in_state("Pending:Wait")

    warming_group.complete(joining, "CONTINUE", hook="warm-up")

    assert warming_group.states()[joining] == "InService"


def test_abandon_terminates_the_instance_and_launches_a_replacement(warming_group):
    _scale_to(warming_group, 2)
    [joining] = warming_group.in_state("Pending:Wait")

    warming_group.complete(joining, "ABANDON", hook="warm-up")

    states = warming_group.states()
    assert joining not in states
    assert warming_group.ec2_state(joining) == "terminated"
    assert sorted(states.values()) == ["InService", "Pending:Wait"]


def test_the_heartbeat_timeout_applies_the_default_result_to_a_launch(make_group):
    group = make_group(desired=0)
    group.put_hook(LAUNCHING, name="warm-up", HeartbeatTimeout=1, DefaultResult="CONTINUE")
    _scale_to(group, 1)
    [joining] = group.in_state("Pending:Wait")

    wait_until(lambda: group.states().get(joining) == "InService", timeout_s=5)
