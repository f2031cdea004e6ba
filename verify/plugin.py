"""pytest plugin (entry point ``pytest11``): gate activations from a user's test suite."""
