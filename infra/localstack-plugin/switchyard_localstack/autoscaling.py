"""Serve the Auto Scaling API from moto inside LocalStack's community edition.

The community edition answers every Auto Scaling call with 501 ("not included in your current
license plan"), yet ships moto, whose Auto Scaling backend shares state with LocalStack's EC2
(instances launched by a group appear in DescribeInstances with private IPs). This provider routes
every Auto Scaling operation to moto, and adds the instance lifecycle moto lacks
(``lifecycle.py``): waits for lifecycle hooks, CompleteLifecycleAction,
RecordLifecycleActionHeartbeat, heartbeat timeouts, and replacement of Unhealthy instances.

Heartbeat timeouts are checked lazily at the start of every Auto Scaling call, so what a caller
reads is exact to the call, and by a timer thread once a second
(``SWITCHYARD_LIFECYCLE_SWEEP_SECONDS``), so an instance whose action times out is terminated in
EC2 even when nobody calls Auto Scaling.

The dispatch table must list every operation by name: LocalStack builds its routes from the
table's keys, so a dict that only implements ``__missing__`` serves nothing.
"""

import logging
import os
import threading
import time

from localstack.aws.api import CommonServiceException
from localstack.aws.spec import load_service
from localstack.services.moto import call_moto
from localstack.services.plugins import Service, aws_provider
from moto.autoscaling.models import autoscaling_backends

from switchyard_localstack import lifecycle, notifications

LOG = logging.getLogger(__name__)


class AutoScalingMotoProvider:
    """Marker provider: LocalStack reads the service name from it."""

    service = "autoscaling"


# (account, region) pairs that have used Auto Scaling: the timer sweeps only those.
_regions_in_use: set[tuple[str, str]] = set()
_sweeper_started = False


def _backend(context):
    return autoscaling_backends[context.account_id][context.region]


def _serve(operation):
    """Run an operation under the lifecycle lock, after applying overdue heartbeat timeouts."""

    def handler(context, request):
        _start_sweeper()
        with lifecycle.LOCK:
            _regions_in_use.add((context.account_id, context.region))
            backend = _backend(context)
            lifecycle.expire_due_actions(backend)
            try:
                return operation(context, request, backend)
            except lifecycle.LifecycleError as error:
                raise CommonServiceException(
                    "ValidationError", str(error), status_code=400, sender_fault=True
                ) from error

    return handler


def _sweep_forever(interval_s: float) -> None:
    while True:
        time.sleep(interval_s)
        with lifecycle.LOCK:
            for account_id, region in list(_regions_in_use):
                try:
                    lifecycle.expire_due_actions(autoscaling_backends[account_id][region])
                except Exception:  # a sweep must never end the timer
                    LOG.exception("lifecycle sweep failed in %s/%s", account_id, region)


def _start_sweeper() -> None:
    global _sweeper_started
    if _sweeper_started:
        return
    with lifecycle.LOCK:
        if _sweeper_started:
            return
        interval_s = float(os.environ.get("SWITCHYARD_LIFECYCLE_SWEEP_SECONDS", "1"))
        threading.Thread(
            target=_sweep_forever, args=(interval_s,), name="autoscaling-lifecycle", daemon=True
        ).start()
        _sweeper_started = True


# ---------------------------------------------------------------------------------------------
# Operations


def _to_moto(context, _request, _backend):
    return call_moto(context)


def _create_auto_scaling_group(context, request, backend):
    response = call_moto(context)
    # The API's default grace period is 0 s (moto assumes the console's 300 s).
    if request.get("HealthCheckGracePeriod") is None:
        group = backend.autoscaling_groups.get(request["AutoScalingGroupName"])
        if group is not None:
            group.health_check_grace_period = 0
    return response


def _put_lifecycle_hook(context, request, backend):
    response = call_moto(context)
    hook = backend.lifecycle_hooks.get(
        f"{request['AutoScalingGroupName']}_{request['LifecycleHookName']}"
    )
    if hook is not None:
        # moto stores placeholder ARNs; keep what the caller gave.
        hook.role_arn = request.get("RoleARN")
        hook.notification_target_arn = request.get("NotificationTargetARN")
        hook.switchyard_notification_target = hook.notification_target_arn
        hook.notification_metadata = request.get("NotificationMetadata")
        hook.global_timeout = min(100 * int(hook.heartbeat_timeout), lifecycle.MAX_GLOBAL_TIMEOUT_S)
        group = backend.autoscaling_groups.get(request["AutoScalingGroupName"])
        if group is not None:
            notifications.test_notification(hook, group)
    return response


def _delete_lifecycle_hook(context, request, backend):
    response = call_moto(context)
    lifecycle.forget_hook(backend, request["AutoScalingGroupName"], request["LifecycleHookName"])
    return response


def _complete_lifecycle_action(_context, request, backend):
    lifecycle.complete_lifecycle_action(
        backend,
        group_name=request["AutoScalingGroupName"],
        hook_name=request["LifecycleHookName"],
        result=request["LifecycleActionResult"],
        token=request.get("LifecycleActionToken"),
        instance_id=request.get("InstanceId"),
    )
    return {}


def _record_lifecycle_action_heartbeat(_context, request, backend):
    lifecycle.record_lifecycle_action_heartbeat(
        backend,
        group_name=request["AutoScalingGroupName"],
        hook_name=request["LifecycleHookName"],
        token=request.get("LifecycleActionToken"),
        instance_id=request.get("InstanceId"),
    )
    return {}


def _set_instance_health(_context, request, backend):
    respect_grace = request.get("ShouldRespectGracePeriod")
    lifecycle.set_instance_health(
        backend,
        instance_id=request["InstanceId"],
        health_status=request["HealthStatus"],
        respect_grace=True if respect_grace is None else bool(respect_grace),
    )
    return {}


_OWN_OPERATIONS = {
    "CreateAutoScalingGroup": _create_auto_scaling_group,
    "PutLifecycleHook": _put_lifecycle_hook,
    "DeleteLifecycleHook": _delete_lifecycle_hook,
    "CompleteLifecycleAction": _complete_lifecycle_action,
    "RecordLifecycleActionHeartbeat": _record_lifecycle_action_heartbeat,
    "SetInstanceHealth": _set_instance_health,
}


def _dispatch_table(_provider):
    return {
        name: _serve(_OWN_OPERATIONS.get(name, _to_moto))
        for name in load_service("autoscaling").operation_names
    }


@aws_provider(api="autoscaling")
def autoscaling():
    lifecycle.install()
    return Service.for_provider(AutoScalingMotoProvider(), dispatch_table_factory=_dispatch_table)
