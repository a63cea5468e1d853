package engine

// transportRequests lists one value of every request type for per-device WinRM transport settings, for the role
// matrix test (see allRequests).
func transportRequests() []Request {
	return nil
}
