"""fuzz — libFuzzer harnesses (C) and the helper that builds and runs them from the tests."""
