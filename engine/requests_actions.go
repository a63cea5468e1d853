package engine

// actionRequests lists one value of every request type for remote actions, runs, the script library and the offline queue, for the role
// matrix test (see allRequests).
func actionRequests() []Request {
	return nil
}
