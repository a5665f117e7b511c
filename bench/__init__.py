"""Benchmarks of RedRunner against raw `ansible-playbook`: `python -m bench [--quick] [--only NAME ...]`.

Each benchmark module measures one thing and returns result rows; `__main__` runs them side by side
and prints one table of ratios with the machine's description.
"""
