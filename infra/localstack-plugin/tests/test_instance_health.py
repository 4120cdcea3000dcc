"""SetInstanceHealth: an Unhealthy instance is terminated and replaced, so the group returns to
its desired capacity (EC2 Auto Scaling user guide, "Health checks for instances in an Auto
Scaling group"; "Set the health check grace period")."""

import pytest
from botocore.exceptions import ClientError


def _mark_unhealthy(group, instance_id, **extra):
    group.autoscaling.set_instance_health(
        InstanceId=instance_id, HealthStatus="Unhealthy", **extra
    )


def test_an_unhealthy_instance_is_terminated_in_ec2(make_group):
    group = make_group(desired=2)
    sick = group.in_state("InService")[0]

    _mark_unhealthy(group, sick)

    assert sick not in group.states()
    assert group.ec2_state(sick) == "terminated"


def test_an_unhealthy_instance_is_replaced_to_the_desired_capacity(make_group):
    group = make_group(desired=2)
    sick = group.in_state("InService")[0]

    _mark_unhealthy(group, sick)

    described = group.describe()
    assert described["DesiredCapacity"] == 2
    assert [(i["LifecycleState"], i["HealthStatus"]) for i in described["Instances"]] == [
        ("InService", "Healthy"),
        ("InService", "Healthy"),
    ]


def test_the_replacement_runs_in_ec2_with_a_private_ip(make_group):
    group = make_group(desired=1)
    [sick] = group.in_state("InService")

    _mark_unhealthy(group, sick)

    [replacement] = group.in_state("InService")
    instance = group.ec2_instance(replacement)
    assert replacement != sick
    assert instance["State"]["Name"] == "running"
    assert instance["PrivateIpAddress"]


def test_an_unhealthy_instance_goes_through_the_terminating_hook_while_its_replacement_launches(
    make_group,
):
    group = make_group(desired=2)
    group.put_hook(HeartbeatTimeout=3600)
    sick = group.in_state("InService")[0]

    _mark_unhealthy(group, sick)

    states = group.states()
    assert states[sick] == "Terminating:Wait"
    assert list(states.values()).count("InService") == 2
    assert group.ec2_state(sick) == "running"


def test_the_grace_period_is_respected_by_default(make_group):
    group = make_group(desired=1, HealthCheckGracePeriod=300)
    [young] = group.in_state("InService")

    _mark_unhealthy(group, young)

    [instance] = group.describe()["Instances"]
    assert (instance["InstanceId"], instance["HealthStatus"]) == (young, "Healthy")


def test_should_respect_grace_period_false_replaces_within_the_grace_period(make_group):
    group = make_group(desired=1, HealthCheckGracePeriod=300)
    [young] = group.in_state("InService")

    _mark_unhealthy(group, young, ShouldRespectGracePeriod=False)

    assert group.ec2_state(young) == "terminated"
    assert len(group.in_state("InService")) == 1


def test_a_group_created_without_a_grace_period_has_none(make_group):
    group = make_group(desired=1)

    assert group.describe()["HealthCheckGracePeriod"] == 0


def test_marking_an_instance_healthy_keeps_it(make_group):
    group = make_group(desired=1)
    [well] = group.in_state("InService")

    group.autoscaling.set_instance_health(InstanceId=well, HealthStatus="Healthy")

    assert group.states() == {well: "InService"}


def test_an_instance_outside_any_group_is_a_validation_error(autoscaling):
    with pytest.raises(ClientError) as raised:
        autoscaling.set_instance_health(
            InstanceId="i-0123456789abcdef0", HealthStatus="Unhealthy"
        )

    assert raised.value.response["Error"]["Code"] == "ValidationError"
