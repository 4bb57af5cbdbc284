"""HomeFollow's rule engine: pure functions over typed inputs.

Nothing here may import Flask, SQLAlchemy or read the clock: every input, including "now",
is passed in. That keeps evaluation deterministic, fast and testable.
"""
