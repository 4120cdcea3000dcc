"""Scale-in with a terminating lifecycle hook: instances wait in Terminating:Wait until their
lifecycle action completes or times out (EC2 Auto Scaling user guide, "How lifecycle hooks work")."""

import time

import pytest
from botocore.exceptions import ClientError

from support import wait_until

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


@pytest.fixture
def draining_group(make_group):
    """Three InService instances and a terminating hook that would wait an hour."""
    group = make_group(desired=3)
    group.put_hook(TERMINATING, HeartbeatTimeout=3600, DefaultResult="CONTINUE")
    return group


def test_set_desired_capacity_puts_the_removed_instances_into_terminating_wait(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=1
    )

    assert sorted(draining_group.states().values()) == [
        "InService",
        "Terminating:Wait",
        "Terminating:Wait",
    ]


def test_desired_capacity_is_the_new_size_while_instances_wait(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=1
    )

    assert draining_group.describe()["DesiredCapacity"] == 1


def test_waiting_instances_are_listed_by_describe_auto_scaling_instances(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=2
    )
    waiting = draining_group.in_state("Terminating:Wait")

    listed = draining_group.autoscaling.describe_auto_scaling_instances(InstanceIds=waiting)

    assert [(i["InstanceId"], i["LifecycleState"]) for i in listed["AutoScalingInstances"]] == [
        (waiting[0], "Terminating:Wait")
    ]


def test_waiting_instances_keep_running_in_ec2(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=1
    )

    for instance_id in draining_group.in_state("Terminating:Wait"):
        assert draining_group.ec2_state(instance_id) == "running"


def test_update_auto_scaling_group_lowering_the_size_puts_instances_into_terminating_wait(
    draining_group,
):
    draining_group.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=draining_group.name, MaxSize=2, DesiredCapacity=2
    )

    assert len(draining_group.in_state("Terminating:Wait")) == 1
    assert draining_group.describe()["DesiredCapacity"] == 2


def test_terminate_instance_with_decrement_waits_and_launches_no_replacement(draining_group):
    victim = draining_group.in_state("InService")[0]

    draining_group.autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=victim, ShouldDecrementDesiredCapacity=True
    )

    states = draining_group.states()
    assert states[victim] == "Terminating:Wait"
    assert list(states.values()).count("InService") == 2
    assert draining_group.describe()["DesiredCapacity"] == 2


def test_terminate_instance_without_decrement_waits_while_a_replacement_launches(draining_group):
    victim = draining_group.in_state("InService")[0]

    draining_group.autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=victim, ShouldDecrementDesiredCapacity=False
    )

    states = draining_group.states()
    assert states[victim] == "Terminating:Wait"
    assert list(states.values()).count("InService") == 3
    assert draining_group.describe()["DesiredCapacity"] == 3


def test_scale_in_skips_instances_protected_from_scale_in(draining_group):
    protected = draining_group.in_state("InService")[:2]
    draining_group.autoscaling.set_instance_protection(
        AutoScalingGroupName=draining_group.name,
        InstanceIds=protected,
        ProtectedFromScaleIn=True,
    )

    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=0
    )

    states = draining_group.states()
    assert [states[i] for i in protected] == ["InService", "InService"]
    assert list(states.values()).count("Terminating:Wait") == 1


def test_waiting_instances_are_not_counted_when_the_group_scales_out_again(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=1
    )
    waiting = set(draining_group.in_state("Terminating:Wait"))

    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=3
    )

    states = draining_group.states()
    assert list(states.values()).count("InService") == 3
    assert {i for i, s in states.items() if s == "Terminating:Wait"} == waiting


def test_scale_in_without_a_hook_terminates_at_once(make_group):
    group = make_group(desired=2)

    group.autoscaling.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=1)

    assert list(group.states().values()) == ["InService"]


def test_a_launching_hook_does_not_hold_scale_in(make_group):
    group = make_group(desired=2)
    group.put_hook("autoscaling:EC2_INSTANCE_LAUNCHING", name="warm-up")

    group.autoscaling.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=1)

    assert list(group.states().values()) == ["InService"]


@pytest.mark.parametrize("result", ["CONTINUE", "ABANDON"])
def test_completing_the_action_terminates_the_instance(draining_group, result):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=2
    )
    [leaving] = draining_group.in_state("Terminating:Wait")

    draining_group.complete(leaving, result)

    assert leaving not in draining_group.states()
    assert draining_group.ec2_state(leaving) == "terminated"


def test_completing_the_action_by_token_terminates_the_instance(make_group, sqs):
    queue_url = sqs.create_queue(QueueName=f"hooks-{time.time_ns()}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    group = make_group(desired=2)
    group.put_hook(
        TERMINATING,
        NotificationTargetARN=queue_arn,
        RoleARN="arn:aws:iam::000000000000:role/hooks",
        NotificationMetadata="drain-me",
    )
    group.autoscaling.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=1)
    [leaving] = group.in_state("Terminating:Wait")
    notice = _lifecycle_notice(sqs, queue_url)

    group.autoscaling.complete_lifecycle_action(
        AutoScalingGroupName=group.name,
        LifecycleHookName="drain",
        LifecycleActionResult="CONTINUE",
        LifecycleActionToken=notice["LifecycleActionToken"],
    )

    assert (notice["EC2InstanceId"], notice["NotificationMetadata"]) == (leaving, "drain-me")
    assert group.ec2_state(leaving) == "terminated"


def _lifecycle_notice(sqs, queue_url) -> dict:
    """The first lifecycle action notice on the queue (skipping the hook's test notification)."""
    import json

    def receive():
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            body = json.loads(message["Body"])
            if "LifecycleActionToken" in body:
                return body
        return None

    return wait_until(receive, timeout_s=10)


def test_the_heartbeat_timeout_applies_the_default_result(make_group):
    group = make_group(desired=2)
    group.put_hook(TERMINATING, HeartbeatTimeout=2, DefaultResult="CONTINUE")
    group.autoscaling.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=1)
    [leaving] = group.in_state("Terminating:Wait")

    # EC2 only: the timer applies the timeout without any Auto Scaling call.
    wait_until(lambda: group.ec2_state(leaving) == "terminated", timeout_s=6)
    assert leaving not in group.states()


def test_a_default_result_of_abandon_also_terminates_on_timeout(make_group):
    group = make_group(desired=2)
    group.put_hook(TERMINATING, HeartbeatTimeout=1, DefaultResult="ABANDON")
    group.autoscaling.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=1)
    [leaving] = group.in_state("Terminating:Wait")

    wait_until(lambda: group.ec2_state(leaving) == "terminated", timeout_s=5)


def test_a_heartbeat_extends_the_wait_by_the_heartbeat_timeout(make_group):
    group = make_group(desired=2)
    group.put_hook(TERMINATING, HeartbeatTimeout=3, DefaultResult="CONTINUE")
    group.autoscaling.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=1)
    [leaving] = group.in_state("Terminating:Wait")
    time.sleep(2)

    group.autoscaling.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=group.name, LifecycleHookName="drain", InstanceId=leaving
    )

    time.sleep(2)  # 4 s after the wait began: past the first timeout, inside the extended one
    assert group.states()[leaving] == "Terminating:Wait"
    wait_until(lambda: group.ec2_state(leaving) == "terminated", timeout_s=4)


def test_deleting_the_hook_ends_the_wait_with_its_default_result(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=2
    )
    [leaving] = draining_group.in_state("Terminating:Wait")

    draining_group.autoscaling.delete_lifecycle_hook(
        AutoScalingGroupName=draining_group.name, LifecycleHookName="drain"
    )

    assert draining_group.ec2_state(leaving) == "terminated"


def test_force_deleting_the_group_terminates_waiting_instances(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=2
    )
    [leaving] = draining_group.in_state("Terminating:Wait")

    draining_group.autoscaling.delete_auto_scaling_group(
        AutoScalingGroupName=draining_group.name, ForceDelete=True
    )

    assert draining_group.ec2_state(leaving) == "terminated"


def test_put_lifecycle_hook_keeps_the_callers_notification_target(make_group):
    group = make_group(desired=0)
    target = "arn:aws:sqs:us-east-1:000000000000:drain-notices"

    group.put_hook(
        TERMINATING,
        HeartbeatTimeout=60,
        NotificationTargetARN=target,
        RoleARN="arn:aws:iam::000000000000:role/hooks",
    )

    [hook] = group.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group.name)[
        "LifecycleHooks"
    ]
    assert (hook["NotificationTargetARN"], hook["GlobalTimeout"]) == (target, 6000)


# --- Errors, as Auto Scaling returns them: ValidationError, HTTP 400 ---------------------------


def _validation_error(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    assert error["Error"]["Code"] == "ValidationError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Error"]["Message"]


def test_completing_an_instance_that_is_not_waiting_is_a_validation_error(draining_group):
    in_service = draining_group.in_state("InService")[0]

    message = _validation_error(lambda: draining_group.complete(in_service))

    assert message == f"No active Lifecycle Action found with instance ID {in_service}"


def test_completing_an_unknown_token_is_a_validation_error(draining_group):
    token = "8d2c4a7e-0000-4000-8000-000000000000"

    message = _validation_error(
        lambda: draining_group.autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=draining_group.name,
            LifecycleHookName="drain",
            LifecycleActionResult="CONTINUE",
            LifecycleActionToken=token,
        )
    )

    assert message == f"No active Lifecycle Action found with token {token}"


def test_completing_for_an_unknown_hook_is_a_validation_error(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=2
    )
    [leaving] = draining_group.in_state("Terminating:Wait")

    message = _validation_error(lambda: draining_group.complete(leaving, hook="no-such-hook"))

    assert "no-such-hook" in message


def test_completing_for_an_unknown_group_is_a_validation_error(autoscaling):
    _validation_error(
        lambda: autoscaling.complete_lifecycle_action(
            AutoScalingGroupName="no-such-group",
            LifecycleHookName="drain",
            LifecycleActionResult="CONTINUE",
            InstanceId="i-0123456789abcdef0",
        )
    )


def test_a_result_other_than_continue_or_abandon_is_a_validation_error(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=2
    )
    [leaving] = draining_group.in_state("Terminating:Wait")

    _validation_error(lambda: draining_group.complete(leaving, result="RETRY"))
    assert draining_group.states()[leaving] == "Terminating:Wait"


def test_a_heartbeat_for_an_instance_that_is_not_waiting_is_a_validation_error(draining_group):
    in_service = draining_group.in_state("InService")[0]

    _validation_error(
        lambda: draining_group.autoscaling.record_lifecycle_action_heartbeat(
            AutoScalingGroupName=draining_group.name,
            LifecycleHookName="drain",
            InstanceId=in_service,
        )
    )


def test_lowering_max_size_does_not_count_waiting_instances(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=1
    )

    draining_group.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=draining_group.name, MaxSize=2
    )

    assert draining_group.describe()["DesiredCapacity"] == 1
    assert sorted(draining_group.states().values()) == [
        "InService",
        "Terminating:Wait",
        "Terminating:Wait",
    ]


def test_raising_min_size_above_the_desired_capacity_launches_instances(draining_group):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=1
    )

    draining_group.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=draining_group.name, MinSize=2
    )

    assert draining_group.describe()["DesiredCapacity"] == 2
    assert len(draining_group.in_state("InService")) == 2


def test_terminating_a_waiting_instance_through_ec2_ends_its_wait_without_a_replacement(
    draining_group,
):
    draining_group.autoscaling.set_desired_capacity(
        AutoScalingGroupName=draining_group.name, DesiredCapacity=2
    )
    [leaving] = draining_group.in_state("Terminating:Wait")

    draining_group.ec2.terminate_instances(InstanceIds=[leaving])

    assert sorted(draining_group.states().values()) == ["InService", "InService"]
