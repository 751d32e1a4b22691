package domaincert

// SetKDFIterationLimit lowers the iteration bound for a test and returns the function restoring it.
func SetKDFIterationLimit(n int) (restore func()) {
	old := kdfIterationLimit
	kdfIterationLimit = n
	return func() { kdfIterationLimit = old }
}
