"""RedRunner: Ansible playbooks as Operations behind an HTTP and WebSocket API."""

__version__ = "0.1.0"
