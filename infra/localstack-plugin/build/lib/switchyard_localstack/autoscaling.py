"""Serve the Auto Scaling API from moto inside LocalStack's community edition.

The community edition answers every Auto Scaling call with 501 ("not included in your current
license plan"), yet ships moto, whose Auto Scaling backend shares state with LocalStack's EC2
(instances launched by a group appear in DescribeInstances with private IPs). This provider routes
every Auto Scaling operation to moto.

The dispatch table must list every operation by name: LocalStack builds its routes from the
table's keys, so a dict that only implements ``__missing__`` serves nothing.
"""

from localstack.aws.spec import load_service
from localstack.services.moto import call_moto
from localstack.services.plugins import Service, aws_provider


class AutoScalingMotoProvider:
    """Marker provider: LocalStack reads the service name from it."""

    service = "autoscaling"


def _to_moto(context, _request):
    return call_moto(context)


def _dispatch_table(_provider):
    return {name: _to_moto for name in load_service("autoscaling").operation_names}


@aws_provider(api="autoscaling")
def autoscaling():
    return Service.for_provider(AutoScalingMotoProvider(), dispatch_table_factory=_dispatch_table)
