// Placeholder until the Cluster issue lands: the target exists so the layout is whole.
