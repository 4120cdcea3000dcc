"""Check what `sam deploy --config-env localstack` created in LocalStack (run by deploy-local.sh).

Reads the stack back through the AWS APIs (AWS_ENDPOINT_URL points at LocalStack) and checks the
parts a user relies on: the queues and their redrive, the functions as built (runtime,
architecture, the environment wired to the stack's queue and fleets), least-privilege IAM
(SetDesiredCapacity only on the named groups, SendMessage only to the work queue, PutMetricData
only in Switchyard's namespace), the scaler's schedule, and the router's way to the AWS APIs from
inside its VPC as the stack's RouterAwsAccess parameter chose it: with VpcEndpoints, the four
interface endpoints (service names, subnets, private DNS, their security group admitting HTTPS from
the router's group only); with ExistingRoute, none of those resources. Exits 1 with every failed
check listed.
"""

import json
import os
import sys
import urllib.parse

import boto3

STACK = os.environ.get("SWITCHYARD_STACK", "switchyard")
failures = []


def check(ok, what):
    print(f"  {'ok  ' if ok else 'FAIL'}  {what}", flush=True)
    if not ok:
        failures.append(what)


def statements(iam, role_arn):
    """Every Allow statement of the role's inline policies, actions as lists."""
    role = role_arn.rsplit("/", 1)[-1]
    out = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(urllib.parse.unquote(document))
        for s in document["Statement"]:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            out.append({"actions": actions, "resources": resources, "condition": s.get("Condition")})
    return out


# The APIs the router calls, by the service name of their interface endpoint: Auto Scaling
# (DescribeAutoScalingGroups), EC2 (DescribeInstances), CloudWatch (GetMetricData), SQS (SendMessage).
ROUTER_ENDPOINTS = {
    "RouterAutoScalingEndpoint": "autoscaling",
    "RouterEc2Endpoint": "ec2",
    "RouterCloudWatchEndpoint": "monitoring",
    "RouterSqsEndpoint": "sqs",
}
# With a routing document the router also reads SSM (GetParameter).
ROUTED_ENDPOINTS = {**ROUTER_ENDPOINTS, "RouterSsmEndpoint": "ssm"}
ENDPOINT_RESOURCES = {*ROUTED_ENDPOINTS, "RouterAwsClientSecurityGroup", "RouterAwsEndpointsSecurityGroup",
                      "RouterAwsEndpointsIngress"}


def check_router_aws_access(cfn, parameters, physical, outputs, router):
    """The router's route to the AWS APIs, as RouterAwsAccess chose it."""
    ec2 = boto3.client("ec2")
    region = ec2.meta.region_name
    access, vpc = parameters["RouterAwsAccess"], parameters["RouterVpcId"]
    subnets = sorted(parameters["RouterSubnetIds"].split(","))
    own_groups = sorted(parameters["RouterSecurityGroupIds"].split(","))
    vpc_config = router.get("VpcConfig", {})
    check(sorted(vpc_config.get("SubnetIds", [])) == subnets, f"router: in the subnets {', '.join(subnets)}")

    if access == "ExistingRoute":
        created = sorted(ENDPOINT_RESOURCES & physical.keys())
        check(not created, "RouterAwsAccess=ExistingRoute: no endpoints or security groups created"
              + (f" (found {', '.join(created)})" if created else ""))
        check(sorted(vpc_config.get("SecurityGroupIds", [])) == own_groups,
              f"router: only its own security groups {', '.join(own_groups)}")
        check(not {"RouterAwsEndpointIds", "RouterAwsEndpointsSecurityGroupId"} & outputs.keys(),
              "no endpoint outputs")
        return

    check(access == "VpcEndpoints", f"RouterAwsAccess is VpcEndpoints or ExistingRoute ({access})")
    client_group = physical.get("RouterAwsClientSecurityGroup")
    endpoints_group = physical.get("RouterAwsEndpointsSecurityGroup")
    check(sorted(vpc_config.get("SecurityGroupIds", [])) == sorted(own_groups + [client_group]),
          f"router: its own security groups plus the endpoints' client group {client_group}")

    expected_endpoints = ROUTED_ENDPOINTS if parameters.get("RoutingDocumentParameter") else ROUTER_ENDPOINTS
    ids = [physical.get(name) for name in expected_endpoints]
    check(all(ids) and not (ENDPOINT_RESOURCES - expected_endpoints.keys() - {"RouterAwsClientSecurityGroup",
          "RouterAwsEndpointsSecurityGroup", "RouterAwsEndpointsIngress"}) & physical.keys(),
          f"{len(expected_endpoints)} interface endpoints in the stack ({', '.join(str(i) for i in ids)})")
    found = {e["VpcEndpointId"]: e for e in ec2.describe_vpc_endpoints(VpcEndpointIds=[i for i in ids if i])["VpcEndpoints"]}
    for name, service in expected_endpoints.items():
        e = found.get(physical.get(name), {})
        expected = f"com.amazonaws.{region}.{service}"
        check(e.get("ServiceName") == expected and e.get("VpcEndpointType") == "Interface"
              and e.get("VpcId") == vpc and e.get("State", "").lower() == "available",
              f"{expected}: an available interface endpoint in {vpc}")
        check(sorted(e.get("SubnetIds", [])) == subnets, f"{expected}: in the router's subnets")
        check(e.get("PrivateDnsEnabled") is True, f"{expected}: private DNS on (the SDK's usual hostname reaches it)")
        check([g["GroupId"] for g in e.get("Groups", [])] == [endpoints_group],
              f"{expected}: guarded by the endpoints' security group only")

    # The endpoints admit HTTPS from the router's client group and nothing else.
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(GroupIds=[client_group, endpoints_group])["SecurityGroups"]}
    check(all(g["VpcId"] == vpc for g in groups.values()), f"both security groups in {vpc}")
    rules = groups[endpoints_group]["IpPermissions"]
    check(len(rules) == 1 and rules[0]["IpProtocol"] == "tcp" and rules[0].get("FromPort") == 443
          and rules[0].get("ToPort") == 443 and not rules[0].get("IpRanges") and not rules[0].get("Ipv6Ranges")
          and [p["GroupId"] for p in rules[0].get("UserIdGroupPairs", [])] == [client_group],
          f"endpoints' security group: only tcp 443 from the router's group {client_group}")
    # LocalStack's AWS::EC2::SecurityGroup drops inline rules, so the client group's egress (443 to
    # the endpoints only, in place of the default allow-all) is read from the template as deployed.
    template = cfn.get_template(StackName=STACK, TemplateStage="Processed")["TemplateBody"]
    if isinstance(template, str):
        template = json.loads(template)
    egress = template["Resources"]["RouterAwsClientSecurityGroup"]["Properties"].get("SecurityGroupEgress", [])
    check(len(egress) == 1 and egress[0].get("IpProtocol") == "tcp" and int(egress[0].get("FromPort", 0)) == 443
          and int(egress[0].get("ToPort", 0)) == 443
          and egress[0].get("DestinationSecurityGroupId") == {"Ref": "RouterAwsEndpointsSecurityGroup"},
          "router's client group: egress only tcp 443 to the endpoints (as deployed; LocalStack keeps "
          "the default allow-all, AWS replaces it)")
    check(outputs.get("RouterAwsEndpointIds", "").split(",") == ids
          and outputs.get("RouterAwsEndpointsSecurityGroupId") == endpoints_group,
          "outputs name the endpoints and their security group")


def check_health_checker(cfn, iam, parameters, router, checker, routed, document):
    """The health checker: the router's binary in the router's VPC, checking the web group (and
    the routed ones), allowed to tag, replace and drain only those; the drain hook on the web group;
    the fail-open alarm."""
    env = checker.get("Environment", {}).get("Variables", {})
    groups = ["switchyard-web", *routed]
    check(env.get("SWITCHYARD_MODE") == "health_checker" and env.get("SWITCHYARD_CHECK_GROUPS", "").split(",") == groups,
          f"health checker: the router's binary as health_checker, checking {', '.join(groups)}")
    check(checker["CodeSize"] > 0 and checker.get("Architectures") == ["arm64"]
          and sorted(checker.get("VpcConfig", {}).get("SubnetIds", [])) == sorted(router.get("VpcConfig", {}).get("SubnetIds", []))
          and sorted(checker.get("VpcConfig", {}).get("SecurityGroupIds", [])) == sorted(router.get("VpcConfig", {}).get("SecurityGroupIds", [])),
          "health checker: arm64, in the router's subnets and security groups (it reaches the servers)")
    check(env.get("SWITCHYARD_DEREGISTRATION_DELAY_SECS") == parameters.get("DeregistrationDelaySeconds")
          and int(checker["Timeout"]) > int(env.get("SWITCHYARD_CHECK_RUN_SECS", "999")),
          "health checker: the stack's deregistration delay, and a run shorter than its timeout")
    rules = statements(iam, checker["Role"])
    acting = [s for s in rules if {"autoscaling:SetInstanceHealth", "autoscaling:CompleteLifecycleAction"} & set(s["actions"])]
    acted_on = sorted(r.rsplit("/", 1)[-1] for s in acting for r in s["resources"])
    check(len(acting) == 1 and set(acting[0]["actions"]) == {"autoscaling:SetInstanceHealth", "autoscaling:CompleteLifecycleAction"}
          and acted_on == sorted(groups)
          and all(":autoScalingGroup:*:autoScalingGroupName/" in r for r in acting[0]["resources"]),
          f"health checker: SetInstanceHealth and CompleteLifecycleAction only on {', '.join(groups)}")
    tagging = [s for s in rules if "ec2:CreateTags" in s["actions"]]
    condition = tagging[0]["condition"] if len(tagging) == 1 else {}
    check(len(tagging) == 1 and tagging[0]["actions"] == ["ec2:CreateTags"]
          and all(r.endswith(":instance/*") for r in tagging[0]["resources"])
          and sorted(condition.get("StringEquals", {}).get("ec2:ResourceTag/aws:autoscaling:groupName", [])) == sorted(groups)
          and sorted(condition.get("ForAllValues:StringEquals", {}).get("aws:TagKeys", []))
          == ["switchyard:draining-since", "switchyard:health"],
          "health checker: CreateTags only on the checked groups' instances, only its two tag keys")
    check(not any(a.endswith(":*") or a == "*" for s in rules for a in s["actions"]),
          "health checker: no wildcard actions")
    # CloudFormation in LocalStack's community edition keeps AWS::AutoScaling::* as placeholders, so
    # the hook is read from the template as deployed.
    template = cfn.get_template(StackName=STACK, TemplateStage="Processed")["TemplateBody"]
    if isinstance(template, str):
        template = json.loads(template)
    hook = template["Resources"].get("WebFleetDrainHook", {}).get("Properties", {})
    check(hook.get("LifecycleHookName") == env.get("SWITCHYARD_DRAIN_HOOK") == "switchyard-drain"
          and hook.get("LifecycleTransition") == "autoscaling:EC2_INSTANCE_TERMINATING"
          and hook.get("DefaultResult") == "CONTINUE"
          and hook.get("HeartbeatTimeout") == {"Ref": "DeregistrationDelaySeconds"},
          "web group: a terminating hook switchyard-drain, CONTINUE after the deregistration delay")
    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=STACK)["MetricAlarms"]
    check(any(a.get("MetricName") == "HealthCheckFailOpen" and a.get("Namespace") == "Switchyard"
              and a.get("Dimensions") == [{"Name": "Group", "Value": "switchyard-web"}] for a in alarms),
          "an alarm on HealthCheckFailOpen for the web group")


def main():
    cfn, sqs, lam, iam, events = (boto3.client(s) for s in ("cloudformation", "sqs", "lambda", "iam", "events"))
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    check(stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), f"stack {STACK}: {stack['StackStatus']}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = cfn.describe_stack_resources(StackName=STACK)["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    print(f"  {len(resources)} resources:", ", ".join(sorted(f"{r['LogicalResourceId']}" for r in resources)))
    stack_events = cfn.describe_stack_events(StackName=STACK)["StackEvents"]
    placeholders = sorted({e["LogicalResourceId"] for e in stack_events if "not supported" in e.get("ResourceStatusReason", "")})
    if placeholders:
        print("  LocalStack's community edition keeps these as placeholders (not emulated):", ", ".join(placeholders))

    # Queues.
    queue_url, dlq_url = outputs.get("WorkQueueUrl", ""), outputs.get("WorkDeadLetterQueueUrl", "")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
    check(redrive.get("deadLetterTargetArn") == dlq_arn and int(redrive.get("maxReceiveCount", 0)) == 5,
          f"work queue redrives to the DLQ after 5 receives ({queue_url.rsplit('/', 1)[-1]})")
    queue_arn = attributes["QueueArn"]

    # Functions.
    router = lam.get_function_configuration(FunctionName=physical["RouterFunction"])
    scaler = lam.get_function_configuration(FunctionName=physical["ScalerFunction"])
    for name, f in (("router", router), ("scaler", scaler)):
        check(f["Runtime"] == "provided.al2023" and f.get("Architectures") == ["arm64"] and f["CodeSize"] > 0,
              f"{name}: {f['Runtime']}, {f.get('Architectures')}, {f['CodeSize']:,} bytes of code")
    env = router.get("Environment", {}).get("Variables", {})
    parameters = {p["ParameterKey"]: p.get("ResolvedValue", p["ParameterValue"]) for p in stack.get("Parameters", [])}
    document = parameters.get("RoutingDocumentParameter", "")
    if document:
        check(env.get("SWITCHYARD_ROUTES_PARAMETER") == document
              and not {"SWITCHYARD_TARGET_GROUP", "SWITCHYARD_JOBS_ROUTE", "SWITCHYARD_ALGORITHM"} & env.keys(),
              f"router: routes from the parameter {document}, and no one-group settings beside it")
    else:
        check(env.get("SWITCHYARD_WORK_QUEUE_URL") == queue_url and env.get("SWITCHYARD_JOBS_ROUTE") == "POST /jobs",
              "router: POST /jobs goes to the stack's work queue")
        check(env.get("SWITCHYARD_TARGET_GROUP") == "switchyard-web", "router: targets from the switchyard-web group")
        check("SWITCHYARD_ROUTES_PARAMETER" not in env, "router: no routing document")
    fleets = json.loads(scaler.get("Environment", {}).get("Variables", {}).get("SWITCHYARD_FLEETS", "[]"))
    check([f["group"] for f in fleets] == ["switchyard-web", "switchyard-workers"]
          and fleets[1].get("queue_url") == queue_url,
          "scaler: fleets switchyard-web (CPU) and switchyard-workers (the work queue)")

    # Least privilege.
    scaler_rules = statements(iam, scaler["Role"])
    resize = [s for s in scaler_rules if "autoscaling:SetDesiredCapacity" in s["actions"]]
    check(len(resize) == 1 and len(resize[0]["resources"]) == 2
          and all(r.endswith(("autoScalingGroupName/switchyard-web", "autoScalingGroupName/switchyard-workers"))
                  for r in resize[0]["resources"]),
          "scaler: SetDesiredCapacity only on the two named groups")
    unprotect = [s for s in scaler_rules if "autoscaling:SetInstanceProtection" in s["actions"]]
    check(len(unprotect) == 1 and len(unprotect[0]["resources"]) == 1
          and unprotect[0]["resources"][0].endswith("autoScalingGroupName/switchyard-workers"),
          "scaler: SetInstanceProtection only on the consumer group")
    put = [s for s in scaler_rules if "cloudwatch:PutMetricData" in s["actions"]]
    check(len(put) == 1 and put[0]["condition"] == {"StringEquals": {"cloudwatch:namespace": "Switchyard"}},
          "scaler: PutMetricData only in the Switchyard namespace")
    router_rules = statements(iam, router["Role"])
    send = [s for s in router_rules if "sqs:SendMessage" in s["actions"]]
    check(len(send) == 1 and send[0]["resources"] == [queue_arn]
          and set(send[0]["actions"]) == {"sqs:SendMessage", "sqs:GetQueueAttributes"},
          "router: SendMessage (and GetQueueAttributes, to warm its client) only on the work queue")
    wake_size = router.get("Environment", {}).get("Variables", {}).get("SWITCHYARD_WAKE_SIZE", "0")
    wakes = [s for s in router_rules if "autoscaling:SetDesiredCapacity" in s["actions"]]
    routed = [g for g in parameters.get("RoutedGroupNames", "").split(",") if g] if document else []
    woken = sorted(r.rsplit("/", 1)[-1] for s in wakes for r in s["resources"])
    if wake_size != "0":
        check(woken == sorted(["switchyard-web", *routed])
              and all(":autoScalingGroup:*:autoScalingGroupName/" in r for s in wakes for r in s["resources"]),
              f"router (wake size {wake_size}): SetDesiredCapacity only on {', '.join(['switchyard-web', *routed])}")
    else:
        check(not wakes, "router (waking off): no SetDesiredCapacity")
    reads = [s for s in router_rules if "ssm:GetParameter" in s["actions"]]
    if document:
        check(len(reads) == 1 and reads[0]["actions"] == ["ssm:GetParameter"] and len(reads[0]["resources"]) == 1
              and reads[0]["resources"][0].endswith(f":parameter{document}"),
              f"router: ssm:GetParameter only on {document}")
        alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=STACK)["MetricAlarms"]
        check(any(a.get("MetricName") == "RoutesRejected" and a.get("Namespace") == "Switchyard" for a in alarms),
              "an alarm on RoutesRejected (a refused routing document version)")
    else:
        check(not reads, "router (no routing document): no ssm:GetParameter")
    check(not any(a.endswith(":*") or a == "*" for s in scaler_rules + router_rules for a in s["actions"]),
          "no wildcard actions in either role")
    check(not any({"autoscaling:SetInstanceHealth", "autoscaling:CompleteLifecycleAction", "ec2:CreateTags"} & set(s["actions"])
                  for s in router_rules),
          "router: cannot replace, drain or tag instances (only the health checker can)")

    # Schedules.
    rules = [events.describe_rule(Name=r["Name"]) for r in events.list_rules()["Rules"]]
    checker = lam.get_function_configuration(FunctionName=physical["HealthCheckerFunction"])
    for name, f in (("scaler", scaler), ("health checker", checker)):
        scheduled = [r for r in rules if r.get("ScheduleExpression") == "rate(1 minute)"
                     and any(t["Arn"] == f["FunctionArn"] for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"])]
        check(len(scheduled) == 1, f"{name}: invoked by an EventBridge rule every minute")

    check_health_checker(cfn, iam, parameters, router, checker, routed, document)

    # The router's way to the AWS APIs from inside its VPC.
    check_router_aws_access(cfn, parameters, physical, outputs, router)

    if failures:
        sys.exit(f"{len(failures)} check(s) failed: " + "; ".join(failures))
    print("  the stack deployed into LocalStack holds everything above")


if __name__ == "__main__":
    main()
