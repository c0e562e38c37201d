"""The `laraflowai` command."""
