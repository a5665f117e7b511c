"""Callback plugins: loaded by ansible-playbook from this folder, never imported by the server."""
