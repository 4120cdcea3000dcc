"""LocalStack plugins for Switchyard's local stack (see infra/README.md)."""
