#!/usr/bin/env bash
# Lint the SAM template offline: cfn-lint, then SAM's own validation with its linter.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"
[[ -x "$TOOLS_VENV/bin/cfn-lint" ]] || die "cfn-lint is not installed: run \`bash infra/install.sh\`"
"$TOOLS_VENV/bin/cfn-lint" template.yaml
SAM_CLI_TELEMETRY=0 "$TOOLS_VENV/bin/sam" validate --lint --template-file template.yaml --region "$AWS_REGION"
say "template.yaml passes cfn-lint and sam validate --lint"
