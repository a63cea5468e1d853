package engine

// inventoryRequests lists one value of every request type for inventory collection, for the role
// matrix test (see allRequests).
func inventoryRequests() []Request {
	return nil
}
