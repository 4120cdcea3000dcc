"""Fixtures for the plugin's tests: a LocalStack with the plugin, boto3 clients, fresh groups.

LocalStack is started on a free port with ``infra/localstack.sh`` (from the stack venv, stopped
when the session ends and by itself should pytest die), unless ``SWITCHYARD_LOCALSTACK_ENDPOINT``
names one that already runs with this plugin installed.
"""

import os
import socket
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest
from support import Group

INFRA_DIR = Path(__file__).resolve().parents[2]
# Short sweeps so that heartbeat timeouts show in EC2 soon after they pass.
SWEEP_SECONDS = "0.2"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def endpoint():
    given = os.environ.get("SWITCHYARD_LOCALSTACK_ENDPOINT")
    if given:
        yield given
        return
    env = dict(
        os.environ,
        SWITCHYARD_LOCALSTACK_PORT=str(_free_port()),
        SWITCHYARD_LOCALSTACK_OWNER_PID=str(os.getpid()),
        SWITCHYARD_LIFECYCLE_SWEEP_SECONDS=SWEEP_SECONDS,
    )
    script = str(INFRA_DIR / "localstack.sh")
    subprocess.run(["bash", script, "start"], env=env, check=True)
    try:
        url = subprocess.run(
            ["bash", script, "endpoint"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        yield url
    finally:
        subprocess.run(["bash", script, "stop"], env=env, check=False)


def _client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="session")
def autoscaling(endpoint):
    return _client("autoscaling", endpoint)


@pytest.fixture(scope="session")
def ec2(endpoint):
    return _client("ec2", endpoint)


@pytest.fixture(scope="session")
def sqs(endpoint):
    return _client("sqs", endpoint)


@pytest.fixture(scope="session")
def launch_template(ec2):
    name = f"plugin-tests-{uuid.uuid4().hex[:8]}"
    ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": "t3.micro"},
    )
    return name


@pytest.fixture
def make_group(autoscaling, ec2, launch_template):
    """Create a group: ``make_group(desired=3, **CreateAutoScalingGroup parameters)``."""
    created = []

    def make(desired: int, **params) -> Group:
        name = f"plugin-test-{uuid.uuid4().hex[:8]}"
        params.setdefault("MinSize", 0)
        params.setdefault("MaxSize", 10)
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": launch_template},
            DesiredCapacity=desired,
            AvailabilityZones=["us-east-1a"],
            **params,
        )
        created.append(name)
        return Group(autoscaling, ec2, name)

    yield make
    remaining = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=created)
    for group in remaining["AutoScalingGroups"]:
        autoscaling.delete_auto_scaling_group(
            AutoScalingGroupName=group["AutoScalingGroupName"], ForceDelete=True
        )
