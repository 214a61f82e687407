"""Deploy-time tooling: rendering the model repository for the serving target."""
