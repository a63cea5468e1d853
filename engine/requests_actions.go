package engine

// actionRequests lists one value of every request type for remote actions, runs, the script library and the offline queue, for the role
// matrix test (see allRequests).
func actionRequests() []Request {
	return []Request{
		StartRun{Name: "flush-dns", Target: RunTarget{Hosts: []string{"rbac-test-host"}}},
		CancelRun{RunID: "rbac-test"},
		GetRun{RunID: "rbac-test"},
		GetActionResult{ID: -1},
		ListRuns{},
		ListActions{},
		ListQueue{},
		CancelQueued{ID: -1},
		AddScript{Name: "rbac-test", Body: "Write-Output 1"},
		ListScripts{},
		deviceResult{host: "rbac-test-host"}, // the engine's own audit record of a device's result; Do refuses to run it
	}
}
