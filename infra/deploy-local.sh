#!/usr/bin/env bash
# Deploy the SAM application into LocalStack, as far as LocalStack allows, and check what landed.
#
#   bash infra/deploy-local.sh      (after `sam build`; check-template.sh runs both)
#
# Uses `sam deploy --config-env localstack` (samconfig.toml) with AWS_ENDPOINT_URL. LocalStack's
# CloudFormation creates the queues, the IAM roles and policies, both functions (definitions only:
# LocalStack runs Lambda code in Docker, which this machine does not have, so its Lambda is started
# with the project's deploy-only executor and the functions run under `cargo lambda watch` instead)
# and the schedule rule. Auto Scaling groups are not CloudFormation resources of this stack: users
# bring their fleets; locally `switchyard-local bootstrap` makes them through the Auto Scaling API.
# Starts LocalStack if it is not running, and stops it again afterwards unless
# SWITCHYARD_KEEP_STACK=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"

[[ -f .aws-sam/build/template.yaml ]] || die "no SAM build: run \`bash infra/check-template.sh\` (or \`sam build\`) first"

endpoint="$(localstack_endpoint)"
use_localstack

# The router runs in the fleets' VPC: locally that is LocalStack's default VPC.
read -r subnet group < <(AWS_ENDPOINT_URL="$endpoint" "$STACK_VENV/bin/python" -c '
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
print(subnet, group)')
[[ -n "$subnet" && -n "$group" ]] || die "no default VPC subnet and security group in LocalStack"

say "sam deploy --config-env localstack into $endpoint (subnet $subnet, security group $group)"
AWS_ENDPOINT_URL="$endpoint" SAM_CLI_TELEMETRY=0 "$TOOLS_VENV/bin/sam" deploy \
  --config-env localstack --no-progressbar --no-fail-on-empty-changeset \
  --parameter-overrides "StickySecret=local-demo-sticky-secret-not-for-production" \
  "RouterSubnetIds=$subnet" "RouterSecurityGroupIds=$group"

say "what the stack created"
AWS_ENDPOINT_URL="$endpoint" "$STACK_VENV/bin/python" infra/deploy_check.py
