package shell

// ExpandedKeys implements steps.Expander: argv items and env values.
func (e *Exec) ExpandedKeys() []string { return []string{"argv", "env"} }
