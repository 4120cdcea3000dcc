"""Lifecycle notifications to a hook's SQS queue or SNS topic, as Auto Scaling sends them.

A client learns a lifecycle action's token from these messages ("Receive notifications for
lifecycle hooks" in the EC2 Auto Scaling user guide has the format). They are sent from a thread
of their own, after the call that caused them, so that no request waits on SQS or SNS while the
lifecycle lock is held.
"""

import json
import logging
import queue
import threading
import uuid
from datetime import UTC, datetime

from localstack.aws.connect import connect_to
from localstack.utils.aws.arns import (
    extract_account_id_from_arn,
    extract_region_from_arn,
    sqs_queue_url_for_arn,
)

LOG = logging.getLogger(__name__)

_outbox: queue.Queue = queue.Queue()
_sender_started = False
_sender_lock = threading.Lock()


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def lifecycle_action(hook, group, instance_id: str, token: str) -> None:
    """The notice that an instance waits on ``hook``, with the action's token."""
    launching = hook.lifecycle_transition.endswith("LAUNCHING")
    body = {
        "Origin": "EC2" if launching else "AutoScalingGroup",
        "Destination": "AutoScalingGroup" if launching else "EC2",
        "Service": "AWS Auto Scaling",
        "Time": _now_iso(),
        "RequestId": str(uuid.uuid4()),
        "LifecycleActionToken": token,
        "AccountId": group.account_id,
        "AutoScalingGroupName": group.name,
        "LifecycleHookName": hook.name,
        "EC2InstanceId": instance_id,
        "LifecycleTransition": hook.lifecycle_transition,
    }
    metadata = getattr(hook, "notification_metadata", None)
    if metadata:
        body["NotificationMetadata"] = metadata
    verb = "LAUNCHING" if launching else "TERMINATING"
    subject = f"Auto Scaling:  Lifecycle action '{verb}' for instance {instance_id} in progress."
    _send(hook, body, subject)


def test_notification(hook, group) -> None:
    """The message Auto Scaling sends when a hook with a notification target is put."""
    body = {
        "AccountId": group.account_id,
        "RequestId": str(uuid.uuid4()),
        "AutoScalingGroupARN": group.arn,
        "AutoScalingGroupName": group.name,
        "Service": "AWS Auto Scaling",
        "Event": "autoscaling:TEST_NOTIFICATION",
        "Time": _now_iso(),
    }
    _send(hook, body, f"Auto Scaling: test notification for group \"{group.name}\"")


def _send(hook, body: dict, subject: str) -> None:
    target = getattr(hook, "switchyard_notification_target", None)
    if not target:
        return
    _start_sender()
    _outbox.put((target, json.dumps(body), subject))


def _deliver(target: str, message: str, subject: str) -> None:
    region = extract_region_from_arn(target)
    account_id = extract_account_id_from_arn(target)
    clients = connect_to(aws_access_key_id=account_id, region_name=region)
    if target.startswith("arn:aws:sqs:"):
        clients.sqs.send_message(QueueUrl=sqs_queue_url_for_arn(target), MessageBody=message)
    elif target.startswith("arn:aws:sns:"):
        clients.sns.publish(TopicArn=target, Message=message, Subject=subject)
    else:
        LOG.warning("lifecycle notification target %s is neither SQS nor SNS", target)


def _send_forever() -> None:
    while True:
        target, message, subject = _outbox.get()
        try:
            _deliver(target, message, subject)
        except Exception as error:  # a lost notice is AWS's failure mode too: log and go on
            LOG.warning("lifecycle notification to %s failed: %s", target, error)


def _start_sender() -> None:
    global _sender_started
    with _sender_lock:
        if not _sender_started:
            threading.Thread(
                target=_send_forever, name="autoscaling-lifecycle-notices", daemon=True
            ).start()
            _sender_started = True
