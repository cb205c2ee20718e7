package config

// LogLevel is the level a process logs at. A process configuration that
// embeds Log has it as its own, which is what cli.Configurable asks for.
func (l Log) LogLevel() string { return l.Level }
