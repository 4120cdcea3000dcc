"""A Lambda runtime executor that deploys functions but refuses to run them.

LocalStack runs Lambda functions in Docker (or a runtime it downloads); neither exists on the
machines Switchyard is developed on. With ``LAMBDA_RUNTIME_EXECUTOR=noop`` a SAM stack still
deploys completely (functions become Active with their configuration), and an invocation fails
with a message that says where the functions really run locally: ``cargo lambda watch``.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

_REFUSAL = (
    "Switchyard's local stack deploys Lambda functions but does not run them (no Docker here): "
    "run the function with `cargo lambda watch` and invoke it with `cargo lambda invoke`."
)


class NoopRuntimeExecutor(RuntimeExecutor):
    def start(self, env_vars):
        raise LambdaRuntimeException(_REFUSAL)

    def stop(self):
        pass

    def get_address(self):
        return "127.0.0.1"

    def get_endpoint_from_executor(self):
        return "127.0.0.1"

    def get_runtime_endpoint(self):
        return "http://127.0.0.1"

    def invoke(self, payload):
        raise LambdaRuntimeException(_REFUSAL)

    def get_logs(self):
        return ""

    @classmethod
    def prepare_version(cls, function_version):
        pass

    @classmethod
    def cleanup_version(cls, function_version):
        pass


class NoopRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "noop"

    def load(self, *args, **kwargs):
        return NoopRuntimeExecutor
