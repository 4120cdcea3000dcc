#!/usr/bin/env bash
# The SAM application's checks: cfn-lint, SAM's own validation with its linter, `sam build`
# (release arm64 bootstraps through cargo lambda, into the shared target dir), then a deploy of the
# built stack into LocalStack that reads back what it created (infra/deploy-local.sh).
# SWITCHYARD_SKIP_SAM_BUILD=1 stops after the linters (for a quick edit-lint loop; CI never sets it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"
[[ -x "$TOOLS_VENV/bin/cfn-lint" ]] || die "cfn-lint is not installed: run \`bash infra/install.sh\`"
export SAM_CLI_TELEMETRY=0
"$TOOLS_VENV/bin/cfn-lint" template.yaml
"$TOOLS_VENV/bin/sam" validate --lint --template-file template.yaml --region "$AWS_REGION"
say "template.yaml passes cfn-lint and sam validate --lint"
[[ "${SWITCHYARD_SKIP_SAM_BUILD:-0}" == 1 ]] && exit 0

# cargo lambda (and the zig it cross-compiles with) come from the tools venv.
export PATH="$TOOLS_VENV/bin:$PATH"
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
say "sam build (release arm64; the first build on a fresh machine takes a few minutes on 2 cores)"
started=$SECONDS
"$TOOLS_VENV/bin/sam" build --template-file template.yaml
for f in RouterFunction ScalerFunction; do
  size=$(stat -c %s ".aws-sam/build/$f/bootstrap")
  say "$f bootstrap: $size bytes"
done
say "sam build took $((SECONDS - started)) s"

bash infra/deploy-local.sh
