"""What several test modules share: fixtures, helpers and small classes, each module named for what
it holds. A test module imports these, never another test module (tests/test_architecture.py)."""
