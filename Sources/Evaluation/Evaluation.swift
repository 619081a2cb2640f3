// Placeholder until the Evaluation issue lands: the target exists so the layout is whole.
