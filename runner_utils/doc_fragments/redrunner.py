"""The connection options every redrunner_* module takes (module_utils/redrunner_api.py,
CONNECTION_ARGUMENT_SPEC), documented once: modules say `extends_documentation_fragment: redrunner`."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  url:
    description: Base URL of the RedRunner server. Falls back to E(REDRUNNER_URL).
    type: str
    default: http://127.0.0.1:8787
  token:
    description: Bearer token, when the server requires one. Falls back to E(REDRUNNER_TOKEN).
    type: str
  token_file:
    description: File whose first line is the bearer token, used when O(token) is not given (a mounted
      Kubernetes Secret, as the C(redrunner) command line reads it). Falls back to E(REDRUNNER_TOKEN_FILE).
    type: path
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  request_timeout:
    description: Seconds to wait for one HTTP answer (a long-poll gets its wait on top).
    type: float
    default: 30
"""
