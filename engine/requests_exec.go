package engine

import "context"

// The untyped side of every request: Do, which front ends reach through
// an identity-bound Requester, calls exec, and exec calls the request's
// typed run. One line per request type; Call and Ask are the typed way in.
// TestEveryRequestIsRegistered fails when a request type lacks its line.

func (r StartRun) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r CancelRun) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r GetRun) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r GetActionResult) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListRuns) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListActions) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListQueue) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r CancelQueued) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r AddScript) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListScripts) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r deviceResult) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r AckAlert) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ResolveAlert) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListAlerts) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r SetCredential) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r RemoveCredential) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListCredentials) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r Diagnose) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r HealthReport) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r MaintainDB) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r BackupDB) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r PollNow) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ImportDevices) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListAudit) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r VerifyAudit) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ExportAudit) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ReloadConfig) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r GetInventory) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r CollectInventory) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r CollectFleetInventory) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r OpenShell) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ShellRun) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ShellInterrupt) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r CloseShell) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r InsecureTLSUsed) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r RunSchedule) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r OpenSession) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r CloseSession) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ExportFile) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListOutbox) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r TestChannel) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r RetryOutbox) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r RunReport) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r FlushNotifications) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r RefuseLogin) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r PreviewImport) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ChangeAlerts) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListCollections) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r GetCollection) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r SaveCollection) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r RemoveCollection) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r RunCommand) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r GetCommandRun) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r QueryInventory) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ScanPatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ScanFleetPatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListPatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r GetDevicePatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r GetPatchCompliance) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ApprovePatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r AutoApprovePatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r InstallPatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r CancelPatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r ListPatchJobs) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r DrivePatches) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r PatchHistory) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
func (r patchEvent) exec(ctx context.Context, e *Engine, id Identity) (any, error) {
	return r.run(ctx, e, id)
}
