package store

// Journal kinds of the recovery routes (internal/api recovery.go, migration 0008): a REST power action or
// one-time boot (boot), and a Remote Platform Erase with its completion (erase).
const (
	OpBoot  OpKind = "boot"
	OpErase OpKind = "erase"
)
