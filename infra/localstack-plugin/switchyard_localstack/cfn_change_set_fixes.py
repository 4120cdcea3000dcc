"""Two fixes to LocalStack 4.14's CloudFormation change sets (the v2 engine), for stack updates.

Both showed when Switchyard's stack switched RouterAwsAccess between ExistingRoute and
VpcEndpoints; CloudFormation itself does neither. The hook applies them as LocalStack starts.

1. A ``List<...>`` or ``CommaDelimitedList`` parameter is read as a list for the new deployment,
   but its previous value stays the comma-separated string it was given. Any function over such a
   parameter then fails once the previous value is evaluated, on every update and deletion: the
   template appends the stack's own security group to ``RouterSecurityGroupIds`` with
   ``Fn::Join``, and each later change set or ``DeleteStack`` failed with "Invalid arguments list
   definition for Fn::Join". The previous value is now split the same way.
2. A resource whose condition turns false is skipped instead of deleted (unless another resource
   happens to reference it): the update from VpcEndpoints to ExistingRoute removed the two
   security groups but left the four endpoints and the ingress rule in the stack. Such a resource
   is now visited, so its removal is planned like any other.
"""

from __future__ import annotations

import re

from localstack.runtime import hooks

_LIST_TYPE = re.compile(r"^(List<[^>]+>|CommaDelimitedList)$")


@hooks.on_infra_start()
def fix_change_set_updates():
    from localstack.services.cloudformation.engine.v2.change_set_model import is_nothing
    from localstack.services.cloudformation.engine.v2.change_set_model_preproc import ChangeSetModelPreproc
    from localstack.utils.patch import patch

    @patch(ChangeSetModelPreproc.visit_node_parameter)
    def visit_node_parameter(fn, self, node_parameter):
        delta = fn(self, node_parameter)
        if isinstance(delta.before, str):
            type_ = self.visit(node_parameter.type_)
            declared = type_.before if isinstance(type_.before, str) else type_.after
            if isinstance(declared, str) and _LIST_TYPE.match(declared):
                delta.before = [item.strip() for item in delta.before.split(",")]
        return delta

    @patch(ChangeSetModelPreproc.visit_node_resources, pass_target=False)
    def visit_node_resources(self, node_resources):
        # As LocalStack's own, but a resource is skipped only if its condition is false both
        # before and after the change: one that existed before is visited, and so removed.
        for node_resource in node_resources.resources:
            if not is_nothing(node_resource.condition_reference):
                condition = self._resolve_resource_condition_reference(node_resource.condition_reference)
                if condition.after is False and condition.before is not True:
                    continue
            self.visit(node_resource)

