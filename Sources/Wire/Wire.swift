// Placeholder until the Wire issue lands: the target exists so the layout is whole.
