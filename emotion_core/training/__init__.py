"""Training runs: the loop, callbacks, hardware plans, distillation."""
