package engine

// shellRequests lists one value of every request type for the interactive remote PowerShell pane, for the role
// matrix test (see allRequests).
func shellRequests() []Request {
	return nil
}
