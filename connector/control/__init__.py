"""The control plane: negotiation and transfer steps (both roles), the engine that runs and delivers them, the
catalogue, the decision seam's answers, and the configured definitions."""
