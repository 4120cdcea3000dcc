"""Instance lifecycle for moto's Auto Scaling groups: hooks that wait, health that replaces.

moto stores lifecycle hooks but never uses them: scale-in terminates at once, no instance ever
waits, and SetInstanceHealth only writes the status. This module follows the EC2 Auto Scaling user
guide's lifecycle ("How lifecycle hooks work"):

- scale-in (SetDesiredCapacity, UpdateAutoScalingGroup, TerminateInstanceInAutoScalingGroup, an
  Unhealthy instance being replaced) puts an instance of a group with a terminating hook into
  ``Terminating:Wait``; it stays listed, no longer counts towards the desired capacity, and is
  terminated once every terminating hook's action completes (CONTINUE or ABANDON both terminate),
  or its heartbeat timeout applies the hook's default result;
- scale-out with a launching hook puts the new instance into ``Pending:Wait``; CONTINUE brings it
  ``InService``, ABANDON terminates it and launches a replacement;
- SetInstanceHealth Unhealthy terminates the instance (through its terminating hooks) and launches
  a replacement, unless the call respects a health check grace period that has not yet passed.

The state is kept on moto's own objects (``InstanceState``), so moto's Describe* calls show it.
Every entry point runs under ``LOCK``: LocalStack serves requests on many threads, and the
timeout sweep (``expire_due_actions``) runs on a timer thread as well.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from moto.autoscaling import models as moto_autoscaling

from switchyard_localstack import notifications

LOCK = threading.RLock()

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
RESULTS = ("CONTINUE", "ABANDON")

# States that count towards the group's desired capacity: an instance that is joining counts, one
# that is leaving (Terminating:*) or parked (Standby) does not.
COUNTED_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")

# A lifecycle action ends after 100 heartbeat timeouts or 48 hours, whichever is smaller.
MAX_GLOBAL_TIMEOUT_S = 172_800


class LifecycleError(Exception):
    """A request Auto Scaling refuses with ``ValidationError`` (HTTP 400)."""


@dataclass
class LifecycleAction:
    """One hook's pending action on one instance; the instance waits until all of its are done."""

    hook_name: str
    transition: str
    heartbeat_timeout_s: int
    default_result: str
    started_at: float
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = 0.0
    global_deadline: float = 0.0
    result: str | None = None

    def __post_init__(self) -> None:
        self.global_deadline = self.started_at + min(
            100 * self.heartbeat_timeout_s, MAX_GLOBAL_TIMEOUT_S
        )
        self.deadline = min(self.started_at + self.heartbeat_timeout_s, self.global_deadline)

    def heartbeat(self, now: float) -> None:
        self.deadline = min(now + self.heartbeat_timeout_s, self.global_deadline)


def _now() -> float:
    return time.monotonic()


def _actions(state) -> list[LifecycleAction]:
    return getattr(state, "switchyard_actions", [])


def pending_actions(state) -> list[LifecycleAction]:
    return [a for a in _actions(state) if a.result is None]


def hooks_of(backend, group_name: str, transition: str) -> list:
    return [
        hook
        for hook in backend.lifecycle_hooks.values()
        if hook.auto_scaling_group_name == group_name and hook.lifecycle_transition == transition
    ]


# ---------------------------------------------------------------------------------------------
# Launch and termination


def _mark_in_service(state) -> None:
    state.lifecycle_state = "InService"
    # The health check grace period starts when the instance enters InService.
    state.switchyard_in_service_since = time.time()


def launch(group, count: int) -> None:
    """Launch ``count`` instances (see ``_patched_replace_instances`` for their first state)."""
    if count > 0:
        group.replace_autoscaling_group_instances(count, group.get_propagated_tags())


def begin_termination(group, states, *, respect_hooks: bool = True) -> None:
    """Take instances out of service: to ``Terminating:Wait`` if the group has a terminating
    hook, otherwise terminated at once."""
    hooks = hooks_of(group.autoscaling_backend, group.name, TERMINATING) if respect_hooks else []
    for state in states:
        if hooks:
            _start_wait(state, "Terminating:Wait", hooks)
        else:
            terminate_now(group, state)


def _start_wait(state, wait_state: str, hooks) -> None:
    now = _now()
    state.lifecycle_state = wait_state
    state.switchyard_actions = []
    for hook in hooks:
        action = LifecycleAction(
            hook_name=hook.name,
            transition=hook.lifecycle_transition,
            heartbeat_timeout_s=int(hook.heartbeat_timeout),
            default_result=hook.default_result,
            started_at=now,
        )
        state.switchyard_actions.append(action)
        notifications.lifecycle_action(
            hook, state.auto_scaling_group, state.instance.id, action.token
        )


def terminate_now(group, state) -> None:
    """The end of every termination: out of the group, then terminated in EC2."""
    state.lifecycle_state = "Terminating:Proceed"
    state.switchyard_actions = []
    group.instance_states = [s for s in group.instance_states if s is not state]
    backend = group.autoscaling_backend
    backend.ec2_backend.terminate_instances([state.instance.id])
    if group.name in backend.autoscaling_groups:
        backend.update_attached_elbs(group.name)
        backend.update_attached_target_groups(group.name)


def _settle(group, state) -> None:
    """Move an instance on once none of its hooks' actions is pending."""
    if pending_actions(state):
        return
    results = [a.result for a in _actions(state)]
    if state.lifecycle_state == "Terminating:Wait":
        # For a terminating hook CONTINUE and ABANDON both terminate (ABANDON skips the
        # remaining hooks, which here have all completed anyway).
        terminate_now(group, state)
    elif state.lifecycle_state == "Pending:Wait":
        if "ABANDON" in results:
            # An abandoned launch is terminated and replaced.
            terminate_now(group, state)
            launch(group, _shortfall(group))
        else:
            # Pending:Proceed passes within the call: nothing is left to run on the instance.
            state.switchyard_actions = []
            _mark_in_service(state)


def _finish(group, state, action: LifecycleAction, result: str) -> None:
    action.result = result
    if result == "ABANDON":
        # ABANDON ends the wait for the instance's other hooks too.
        for other in pending_actions(state):
            other.result = "ABANDON"
    _settle(group, state)


def _shortfall(group) -> int:
    counted = [s for s in group.instance_states if s.lifecycle_state in COUNTED_STATES]
    return (group.desired_capacity or 0) - len(counted)


# ---------------------------------------------------------------------------------------------
# Desired capacity


def set_desired_capacity(group, new_capacity, *, respect_hooks: bool = True) -> None:
    """moto's rule (launch or remove to reach the desired capacity, protected instances stay),
    with instances that are leaving not counted and never picked twice."""
    group.desired_capacity = group.min_size if new_capacity is None else new_capacity
    shortfall = _shortfall(group)
    if shortfall > 0:
        launch(group, shortfall)
    elif shortfall < 0:
        candidates = [
            s
            for s in group.instance_states
            if s.lifecycle_state in COUNTED_STATES and not s.protected_from_scale_in
        ]
        begin_termination(group, candidates[:-shortfall], respect_hooks=respect_hooks)
    backend = group.autoscaling_backend
    if group.name in backend.autoscaling_groups:
        backend.update_attached_elbs(group.name)
        backend.update_attached_target_groups(group.name)


# ---------------------------------------------------------------------------------------------
# API operations moto lacks


def _group(backend, group_name: str):
    group = backend.autoscaling_groups.get(group_name)
    if group is None:
        raise LifecycleError(f"AutoScalingGroup name not found - AutoScalingGroup {group_name!r} not found")
    return group


def _find_action(backend, group_name, hook_name, token, instance_id):
    group = _group(backend, group_name)
    if f"{group_name}_{hook_name}" not in backend.lifecycle_hooks:
        raise LifecycleError(
            f"No Lifecycle Hook found with name {hook_name} for group {group_name}"
        )
    if not token and not instance_id:
        raise LifecycleError("Either LifecycleActionToken or InstanceId must be specified")
    for state in group.instance_states:
        if instance_id and state.instance.id != instance_id:
            continue
        for action in pending_actions(state):
            if action.hook_name != hook_name:
                continue
            if token and action.token != token:
                continue
            return group, state, action
    if token:
        raise LifecycleError(f"No active Lifecycle Action found with token {token}")
    raise LifecycleError(f"No active Lifecycle Action found with instance ID {instance_id}")


def complete_lifecycle_action(
    backend, group_name, hook_name, result, token=None, instance_id=None
) -> None:
    if result not in RESULTS:
        raise LifecycleError(
            f"Value {result!r} at 'lifecycleActionResult' failed to satisfy constraint: "
            "Member must be one of CONTINUE, ABANDON"
        )
    group, state, action = _find_action(backend, group_name, hook_name, token, instance_id)
    _finish(group, state, action, result)


def record_lifecycle_action_heartbeat(
    backend, group_name, hook_name, token=None, instance_id=None
) -> None:
    _, _, action = _find_action(backend, group_name, hook_name, token, instance_id)
    action.heartbeat(_now())


def forget_hook(backend, group_name: str, hook_name: str) -> None:
    """A deleted hook's pending actions end with its default result."""
    group = backend.autoscaling_groups.get(group_name)
    if group is None:
        return
    for state in list(group.instance_states):
        for action in pending_actions(state):
            if action.hook_name == hook_name:
                _finish(group, state, action, action.default_result)


def expire_due_actions(backend) -> None:
    """Apply each hook's default result to actions whose heartbeat timeout has passed."""
    now = _now()
    for group in list(backend.autoscaling_groups.values()):
        for state in list(group.instance_states):
            for action in pending_actions(state):
                if action.deadline <= now and action.result is None:
                    _finish(group, state, action, action.default_result)


def set_instance_health(backend, instance_id: str, health_status: str, respect_grace: bool) -> None:
    if health_status not in ("Healthy", "Unhealthy"):
        raise LifecycleError("Valid instance health states are: [Healthy, Unhealthy]")
    found = [
        (group, state)
        for group in backend.autoscaling_groups.values()
        for state in group.instance_states
        if state.instance.id == instance_id
    ]
    if not found:
        raise LifecycleError(f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
    group, state = found[0]
    if state.lifecycle_state.startswith("Terminating"):
        raise LifecycleError(f"Instance {instance_id} is already terminating")
    if health_status == "Healthy":
        state.health_status = "Healthy"
        return
    if respect_grace and _in_grace_period(group, state):
        # Auto Scaling takes no action on an instance's health during its grace period.
        return
    state.health_status = "Unhealthy"
    if state.lifecycle_state in COUNTED_STATES:
        begin_termination(group, [state])
        launch(group, _shortfall(group))


def _in_grace_period(group, state) -> bool:
    grace_s = group.health_check_grace_period or 0
    if grace_s <= 0 or state.lifecycle_state != "InService":
        return False
    since = getattr(state, "switchyard_in_service_since", None)
    return since is not None and time.time() - since < grace_s


# ---------------------------------------------------------------------------------------------
# Wiring into moto


def _patched_set_desired_capacity(original):
    def set_desired_capacity_with_lifecycle(self, new_capacity):
        if self.mixed_instances_policy and self.mixed_instances_policy.get(
            "LaunchTemplate", {}
        ).get("Overrides"):
            # Weighted mixed-instances sizing is moto's own; lifecycle hooks do not apply there.
            return original(self, new_capacity)
        set_desired_capacity(self, new_capacity, respect_hooks=not getattr(self, "switchyard_deleting", False))

    return set_desired_capacity_with_lifecycle


def _patched_terminate_instance(self, instance_id: str, should_decrement: bool):
    """TerminateInstanceInAutoScalingGroup: through the group's terminating hooks; without
    decrement the group launches a replacement at once, as the leaving instance no longer counts."""
    found = [
        (group, state)
        for group in self.autoscaling_groups.values()
        for state in group.instance_states
        if state.instance.id == instance_id
    ]
    if not found:
        raise moto_autoscaling.ValidationError(
            f"Instance Id not found - No managed instance found for instance ID: {instance_id}"
        )
    group, state = found[0]
    original_size = group.desired_capacity
    if state.lifecycle_state.startswith("Terminating"):
        return moto_autoscaling.TerminateInstanceActivity(state.instance, original_size)
    if should_decrement:
        if (group.desired_capacity or 0) - 1 < (group.min_size or 0):
            raise moto_autoscaling.ValidationError(
                f"Currently, desiredCapacity is {group.desired_capacity} and minSize is "
                f"{group.min_size}. Terminating instance without replacement will violate "
                "group's min size constraint. Either set shouldDecrementDesiredCapacity flag "
                "to false or lower group's min size."
            )
        group.desired_capacity -= 1
    activity = moto_autoscaling.TerminateInstanceActivity(state.instance, original_size)
    begin_termination(group, [state])
    launch(group, _shortfall(group))
    return activity


def _patched_replace_instances(original):
    """Every launch (scale-out, replacement, moto's own after an EC2 TerminateInstances): with a
    launching hook the new instances wait in ``Pending:Wait``, otherwise they are InService."""

    def replace_autoscaling_group_instances(self, count_needed, propagated_tags):
        before = {id(s) for s in self.instance_states}
        original(self, count_needed, propagated_tags)
        hooks = hooks_of(self.autoscaling_backend, self.name, LAUNCHING)
        for state in self.instance_states:
            if id(state) in before:
                continue
            if hooks:
                _start_wait(state, "Pending:Wait", hooks)
            else:
                _mark_in_service(state)

    return replace_autoscaling_group_instances


def _patched_update(original):
    """UpdateAutoScalingGroup without DesiredCapacity: a new MinSize above, or MaxSize below, the
    desired capacity moves it there. moto compares with the number of listed instances, which
    counts the ones that are leaving."""

    def update(self, *args, **kwargs):
        if not args and kwargs.get("desired_capacity") is None:
            desired = self.desired_capacity or 0
            min_size, max_size = kwargs.get("min_size"), kwargs.get("max_size")
            if min_size is not None and min_size > desired:
                desired = min_size
            if max_size is not None and max_size < desired:
                desired = max_size
            # Always explicit, so that moto's own count-based adjustment never runs.
            kwargs["desired_capacity"] = desired
        return original(self, *args, **kwargs)

    return update


def _patched_notify_terminate_instances(original):
    """EC2 TerminateInstances on group instances (moto replaces those that counted): under the
    lifecycle lock like every other change to the groups."""

    def notify_terminate_instances(self, instance_ids):
        with LOCK:
            return original(self, instance_ids)

    return notify_terminate_instances


def _patched_active_instances(self):
    return [s for s in self.instance_states if s.lifecycle_state in COUNTED_STATES]


def _patched_delete_group(original):
    def delete_auto_scaling_group(self, group_name: str):
        # ForceDelete semantics: instances go at once and outstanding lifecycle actions end.
        group = self.autoscaling_groups.get(group_name)
        if group is not None:
            group.switchyard_deleting = True
            for state in list(group.instance_states):
                if state.lifecycle_state.endswith(":Wait"):
                    terminate_now(group, state)
        return original(self, group_name)

    return delete_auto_scaling_group


_installed = False


def install() -> None:
    """Patch moto's Auto Scaling models (once per process)."""
    global _installed
    with LOCK:
        if _installed:
            return
        group_cls = moto_autoscaling.FakeAutoScalingGroup
        backend_cls = moto_autoscaling.AutoScalingBackend
        group_cls.set_desired_capacity = _patched_set_desired_capacity(group_cls.set_desired_capacity)
        group_cls.active_instances = _patched_active_instances
        group_cls.replace_autoscaling_group_instances = _patched_replace_instances(
            group_cls.replace_autoscaling_group_instances
        )
        group_cls.update = _patched_update(group_cls.update)
        backend_cls.terminate_instance = _patched_terminate_instance
        backend_cls.notify_terminate_instances = _patched_notify_terminate_instances(
            backend_cls.notify_terminate_instances
        )
        backend_cls.delete_auto_scaling_group = _patched_delete_group(
            backend_cls.delete_auto_scaling_group
        )
        _installed = True
