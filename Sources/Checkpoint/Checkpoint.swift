// Placeholder until the Checkpoint issue lands: the target exists so the layout is whole.
