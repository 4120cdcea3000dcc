"""Reads and waits the plugin's tests share."""

import time


class Group:
    """One Auto Scaling group under test, with the reads the tests share."""

    def __init__(self, autoscaling, ec2, name):
        self.autoscaling = autoscaling
        self.ec2 = ec2
        self.name = name

    def describe(self) -> dict:
        return self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])[
            "AutoScalingGroups"
        ][0]

    def states(self) -> dict[str, str]:
        """Instance id -> LifecycleState, as DescribeAutoScalingGroups lists them."""
        return {i["InstanceId"]: i["LifecycleState"] for i in self.describe()["Instances"]}

    def in_state(self, state: str) -> list[str]:
        return [i for i, s in self.states().items() if s == state]

    def put_hook(self, transition="autoscaling:EC2_INSTANCE_TERMINATING", name="drain", **extra):
        self.autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=self.name,
            LifecycleHookName=name,
            LifecycleTransition=transition,
            **extra,
        )

    def complete(self, instance_id, result="CONTINUE", hook="drain"):
        self.autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=self.name,
            LifecycleHookName=hook,
            LifecycleActionResult=result,
            InstanceId=instance_id,
        )

    def ec2_state(self, instance_id: str) -> str:
        return self.ec2_instance(instance_id)["State"]["Name"]

    def ec2_instance(self, instance_id: str) -> dict:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]


def wait_until(predicate, timeout_s: float, interval_s: float = 0.1):
    """Poll until ``predicate()`` is truthy; return its value or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {predicate.__doc__ or predicate}")
        time.sleep(interval_s)
