#!/usr/bin/env bash
# Deploy the SAM application into LocalStack, as far as LocalStack allows, and check what landed.
#
#   bash infra/deploy-local.sh      (after `sam build`; check-template.sh runs both)
#
# Uses `sam deploy --config-env localstack` (samconfig.toml) with AWS_ENDPOINT_URL. LocalStack's
# CloudFormation creates the queues, the IAM roles and policies, both functions (definitions only:
# LocalStack runs Lambda code in Docker, which this machine does not have, so its Lambda is started
# with the project's deploy-only executor and the functions run under `cargo lambda watch` instead),
# the schedule rule, and the router's way to the AWS APIs from inside the VPC. Auto Scaling groups
# are not CloudFormation resources of this stack: users bring their fleets; locally
# `switchyard-local bootstrap` makes them through the Auto Scaling API.
#
# The router's AWS access is deployed both ways, one after the other, as a user would switch:
# RouterAwsAccess=ExistingRoute (nothing created), then an update to VpcEndpoints (the four
# interface endpoints, their security groups and the 443 rule); deploy_check.py reads back each.
# SWITCHYARD_ROUTER_AWS_ACCESS=ExistingRoute or =VpcEndpoints deploys that one only. (Updates of
# this stack need the plugin's fixes to LocalStack 4.14's change sets:
# infra/localstack-plugin/switchyard_localstack/cfn_change_set_fixes.py.)
#
# SWITCHYARD_STUB_BOOTSTRAPS=1 deploys the template with placeholder bootstraps instead of the
# `sam build` output: a template-level check (IAM, queues, VPC access) in seconds, without the
# release build; the functions it deploys cannot run.
#
# Starts LocalStack if it is not running, and stops it again afterwards unless
# SWITCHYARD_KEEP_STACK=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"

if [[ "${SWITCHYARD_STUB_BOOTSTRAPS:-0}" == 1 ]]; then
  # What `sam build` leaves, minus the compiler: the template with each CodeUri pointing at a
  # folder that holds a bootstrap (here a script that refuses to run).
  built="$STATE_DIR/stub-build"
  rm -rf "$built"
  for f in RouterFunction ScalerFunction; do
    mkdir -p "$built/$f"
    printf '#!/bin/sh\necho "placeholder from SWITCHYARD_STUB_BOOTSTRAPS: run sam build" >&2\nexit 1\n' > "$built/$f/bootstrap"
    chmod +x "$built/$f/bootstrap"
  done
  "$TOOLS_VENV/bin/python" - "$built" <<'EOF'
import sys
from samcli.yamlhelper import parse_yaml_file, yaml_dump
built = sys.argv[1]
template = parse_yaml_file("template.yaml")
for name in ("RouterFunction", "ScalerFunction"):
    template["Resources"][name]["Properties"]["CodeUri"] = name
    template["Resources"][name].pop("Metadata", None)
with open(f"{built}/template.yaml", "w") as out:
    out.write(yaml_dump(template))
EOF
  say "placeholder bootstraps in $built (SWITCHYARD_STUB_BOOTSTRAPS=1): the template is checked, not the code"
else
  built=".aws-sam/build"
  [[ -f "$built/template.yaml" ]] || die "no SAM build: run \`bash infra/check-template.sh\` (or \`sam build\`) first"
fi

endpoint="$(localstack_endpoint)"
use_localstack

# The router runs in the fleets' VPC: locally that is LocalStack's default VPC, with two subnets in
# two Availability Zones (an interface endpoint takes one subnet per zone) and the default group.
read -r vpc subnets group < <(AWS_ENDPOINT_URL="$endpoint" "$STACK_VENV/bin/python" -c '
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
by_zone = {}
for s in sorted(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"], key=lambda s: s["AvailabilityZone"]):
    by_zone.setdefault(s["AvailabilityZone"], s["SubnetId"])
group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
print(vpc, ",".join(list(by_zone.values())[:2]), group)')
[[ -n "$vpc" && "$subnets" == *,* && -n "$group" ]] || die "no default VPC with two subnets and a security group in LocalStack"

case "${SWITCHYARD_ROUTER_AWS_ACCESS:-both}" in
  both) accesses=(ExistingRoute VpcEndpoints) ;;
  ExistingRoute | VpcEndpoints) accesses=("$SWITCHYARD_ROUTER_AWS_ACCESS") ;;
  *) die "SWITCHYARD_ROUTER_AWS_ACCESS must be ExistingRoute or VpcEndpoints (or unset for both)" ;;
esac

for access in "${accesses[@]}"; do
  # Waking the web fleet from zero is on (WebFleetWakeSize=1) in both, so that the router's
  # SetDesiredCapacity statement is read back. (It is on from the first create: LocalStack 4.14's
  # update leaves a role's inline policy as it was when an !If in it turns.)
  wake=1
  say "sam deploy --config-env localstack into $endpoint (RouterAwsAccess=$access; VPC $vpc, subnets $subnets, security group $group)"
  AWS_ENDPOINT_URL="$endpoint" SAM_CLI_TELEMETRY=0 "$TOOLS_VENV/bin/sam" deploy \
    --config-file "$SWITCHYARD_ROOT/samconfig.toml" --config-env localstack --template-file "$built/template.yaml" \
    --no-progressbar --no-fail-on-empty-changeset \
    --parameter-overrides "StickySecret=local-demo-sticky-secret-not-for-production" \
    "RouterVpcId=$vpc" "RouterSubnetIds=$subnets" "RouterSecurityGroupIds=$group" "RouterAwsAccess=$access" \
    "WebFleetWakeSize=$wake"

  say "what the stack created (RouterAwsAccess=$access)"
  AWS_ENDPOINT_URL="$endpoint" "$STACK_VENV/bin/python" infra/deploy_check.py
done

# A routing document in an SSM parameter, with its VPC endpoint: a stack of its own, created with
# the document from the start (LocalStack 4.14 keeps a role's inline policy as created when an !If
# in it turns on an update).
routed="switchyard-routed"
say "sam deploy --config-env localstack --stack-name $routed (RoutingDocumentParameter=/switchyard/routes, RouterAwsAccess=VpcEndpoints)"
AWS_ENDPOINT_URL="$endpoint" SAM_CLI_TELEMETRY=0 "$TOOLS_VENV/bin/sam" deploy \
  --config-file "$SWITCHYARD_ROOT/samconfig.toml" --config-env localstack --template-file "$built/template.yaml" \
  --stack-name "$routed" --no-progressbar --no-fail-on-empty-changeset \
  --parameter-overrides "StickySecret=local-demo-sticky-secret-not-for-production" \
  "RouterVpcId=$vpc" "RouterSubnetIds=$subnets" "RouterSecurityGroupIds=$group" "RouterAwsAccess=VpcEndpoints" \
  "WebFleetWakeSize=1" "RoutingDocumentParameter=/switchyard/routes" "RoutedGroupNames=switchyard-api"
say "what the stack created ($routed)"
AWS_ENDPOINT_URL="$endpoint" SWITCHYARD_STACK="$routed" "$STACK_VENV/bin/python" infra/deploy_check.py
