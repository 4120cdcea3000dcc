"""CloudFormation's ``AWS::EC2::SecurityGroupIngress`` for LocalStack, over its EC2 (moto) API.

LocalStack 4.14's community CloudFormation has no provider for this resource type (a stack that
declares one gets a placeholder and no rule), and its ``AWS::EC2::SecurityGroup`` provider creates
the group without the inline ``SecurityGroupIngress``/``SecurityGroupEgress`` rules. Switchyard's
template declares the rule that admits the router to its AWS API endpoints as a resource of this
type, so this provider makes the local deploy create the rule for real and the deploy check read
it back with ``DescribeSecurityGroups``.

Create authorizes the rule, delete revokes it; every property is create-only here (an update
replaces the rule), as the rule has no identity of its own beyond its content. Properties follow
the resource's CloudFormation schema (the ones a rule can name: one source per rule).
"""

from __future__ import annotations

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)

_PROPERTIES = [
    "GroupId",
    "GroupName",
    "IpProtocol",
    "FromPort",
    "ToPort",
    "CidrIp",
    "CidrIpv6",
    "Description",
    "SourcePrefixListId",
    "SourceSecurityGroupId",
    "SourceSecurityGroupName",
    "SourceSecurityGroupOwnerId",
]


def ip_permission(model: dict) -> dict:
    """The rule as EC2's ``IpPermissions`` entry (the shape Authorize and Revoke both take)."""
    permission: dict = {"IpProtocol": str(model["IpProtocol"])}
    if model.get("FromPort") is not None:
        permission["FromPort"] = int(model["FromPort"])
    if model.get("ToPort") is not None:
        permission["ToPort"] = int(model["ToPort"])
    description = {"Description": model["Description"]} if model.get("Description") else {}
    if model.get("CidrIp"):
        permission["IpRanges"] = [{"CidrIp": model["CidrIp"], **description}]
    if model.get("CidrIpv6"):
        permission["Ipv6Ranges"] = [{"CidrIpv6": model["CidrIpv6"], **description}]
    if model.get("SourcePrefixListId"):
        permission["PrefixListIds"] = [{"PrefixListId": model["SourcePrefixListId"], **description}]
    pair = {
        key: model[prop]
        for key, prop in (
            ("GroupId", "SourceSecurityGroupId"),
            ("GroupName", "SourceSecurityGroupName"),
            ("UserId", "SourceSecurityGroupOwnerId"),
        )
        if model.get(prop)
    }
    if pair:
        permission["UserIdGroupPairs"] = [{**pair, **description}]
    return permission


def target_group(model: dict) -> dict:
    return {"GroupId": model["GroupId"]} if model.get("GroupId") else {"GroupName": model["GroupName"]}


class SecurityGroupIngressProvider(ResourceProvider[dict]):
    TYPE = "AWS::EC2::SecurityGroupIngress"
    SCHEMA = {
        "typeName": TYPE,
        "properties": {name: {} for name in _PROPERTIES + ["Id"]},
        "required": ["IpProtocol"],
        "readOnlyProperties": ["/properties/Id"],
        "createOnlyProperties": [f"/properties/{name}" for name in _PROPERTIES],
        "primaryIdentifier": ["/properties/Id"],
    }

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = request.desired_state
        if not (model.get("GroupId") or model.get("GroupName")):
            return ProgressEvent(
                status=OperationStatus.FAILED,
                resource_model=model,
                message="AWS::EC2::SecurityGroupIngress needs GroupId or GroupName",
            )
        response = request.aws_client_factory.ec2.authorize_security_group_ingress(
            **target_group(model), IpPermissions=[ip_permission(model)]
        )
        rules = response.get("SecurityGroupRules") or []
        model["Id"] = rules[0]["SecurityGroupRuleId"] if rules else f"{model.get('GroupId')}-ingress"
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def read(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        raise NotImplementedError

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        raise NotImplementedError

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = request.previous_state or request.desired_state
        ec2 = request.aws_client_factory.ec2
        try:
            ec2.revoke_security_group_ingress(**target_group(model), IpPermissions=[ip_permission(model)])
        except ec2.exceptions.ClientError as e:
            # Already gone with its group (or never created): nothing left to delete.
            if e.response["Error"]["Code"] not in ("InvalidGroup.NotFound", "InvalidPermission.NotFound"):
                raise
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


class SecurityGroupIngressProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::EC2::SecurityGroupIngress"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        self.factory = SecurityGroupIngressProvider
