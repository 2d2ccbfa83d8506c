"""ACT model, trainer, checkpoint I/O and the policy node streaming joint trajectories."""
