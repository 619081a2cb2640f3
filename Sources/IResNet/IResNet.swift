// Placeholder until the IResNet issue lands: the target exists so the layout is whole.
