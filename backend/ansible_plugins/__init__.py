"""Ansible plugins RedRunner puts on the plugin path of the playbooks it runs."""
