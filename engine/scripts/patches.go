package scripts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/psjson"
)

// The patch scripts' documents: patch_scan (the Windows Update Agent's
// search: missing and installed updates), patch_task (the scheduled
// task that runs patch_install: its state, the progress file, the last
// boot and the servicing state) and patch_install's progress file.

// InventoryPatches is the patch scan's inventory category. It is not one
// of InventoryCategories (the four collectors a plain `rmm inventory`
// runs): a scan asks the update service and takes longer, so it runs on
// its own schedule (schedules.patch_scan) or when named.
const InventoryPatches = "patches"

// UTCTime is a time the patch scripts print as "2006-01-02T15:04:05Z",
// "2006-01-02" (a date), PowerShell 5.1's "\/Date(ms)\/" or "" (none). It
// is written back as RFC 3339 UTC, or null when zero.
type UTCTime struct{ time.Time }

// UnmarshalJSON accepts the forms above and null.
func (t *UTCTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*t = UTCTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time: %s is not a string", b)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		*t = UTCTime{}
		return nil
	}
	if strings.HasPrefix(s, "/Date(") {
		var d psjson.PSDate
		if err := d.UnmarshalJSON(b); err != nil {
			return err
		}
		*t = UTCTime{d.UTC()}
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if v, err := time.Parse(layout, s); err == nil {
			*t = UTCTime{v.UTC()}
			return nil
		}
	}
	return fmt.Errorf("time %q: want 2006-01-02T15:04:05Z or 2006-01-02", s)
}

// MarshalJSON writes RFC 3339 UTC, or null for the zero time.
func (t UTCTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// Update is one Windows update as the Windows Update Agent describes it.
type Update struct {
	UpdateID         string  `json:"update_id"` // IUpdate.Identity.UpdateID, a GUID
	Revision         int     `json:"revision"`
	KB               string  `json:"kb"` // "KB5034441"; "" for updates without one
	Title            string  `json:"title"`
	ClassificationID string  `json:"classification_id"` // the category's GUID
	Classification   string  `json:"classification"`    // English name (from the GUID when known)
	Severity         string  `json:"severity"`          // MsrcSeverity: Critical, Important, Moderate, Low or ""
	SizeBytes        int64   `json:"size_bytes"`        // MaxDownloadSize
	RebootBehavior   int     `json:"reboot_behavior"`   // 0 never, 1 always requires, 2 can request a restart
	ReleaseDate      UTCTime `json:"release_date"`      // LastDeploymentChangeTime (a date)
	Downloaded       bool    `json:"downloaded"`
}

// Reboot behaviours (IUpdate.InstallationBehavior.RebootBehavior).
const (
	RebootNever     = 0
	RebootAlways    = 1
	RebootCanAskFor = 2
)

// RebootBehaviorName reads a reboot behaviour for people.
func RebootBehaviorName(b int) string {
	switch b {
	case RebootNever:
		return "never"
	case RebootAlways:
		return "always"
	case RebootCanAskFor:
		return "may"
	}
	return "unknown"
}

// PatchScan is patch_scan's document.
type PatchScan struct {
	OK                 bool                `json:"ok"`
	Message            string              `json:"message,omitempty"`
	HResult            int64               `json:"hresult,omitempty"`
	Service            string              `json:"service"` // WSUS, Windows Update or Microsoft Update
	Server             string              `json:"server,omitempty"`
	LastSearchSuccess  UTCTime             `json:"last_search_success"`
	LastInstallSuccess UTCTime             `json:"last_install_success"`
	RebootRequired     bool                `json:"reboot_required"`
	Missing            psjson.List[Update] `json:"missing"`
	Installed          psjson.List[Update] `json:"installed"`
}

// Classifications of Windows updates, by the English names WSUS and the
// Microsoft Update Catalog use.
const (
	ClassCritical   = "Critical Updates"
	ClassSecurity   = "Security Updates"
	ClassDefinition = "Definition Updates"
	ClassDrivers    = "Drivers"
	ClassFeature    = "Feature Packs"
	ClassService    = "Service Packs"
	ClassTools      = "Tools"
	ClassRollups    = "Update Rollups"
	ClassUpdates    = "Updates"
	ClassUpgrades   = "Upgrades"
)

// classificationIDs maps the update classifications' category GUIDs
// (the same on every host and in every display language) to their
// English names.
var classificationIDs = map[string]string{
	"e6cf1350-c01b-414d-a61f-263d14d133b4": ClassCritical,
	"0fa1201d-4330-4fa8-8ae9-b877473b6441": ClassSecurity,
	"e0789628-ce08-4437-be74-2495b842f43b": ClassDefinition,
	"ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0": ClassDrivers,
	"b54e7d24-7add-428f-8b75-90a396fa584f": ClassFeature,
	"68c5b0a3-d1a6-4553-ae49-01d3a7827828": ClassService,
	"b4832bd8-e735-4761-8daf-37f882276dab": ClassTools,
	"28bc880e-0592-4cbf-8f95-c79b17911d5f": ClassRollups,
	"cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83": ClassUpdates,
	"3689bdc8-b205-4af4-8d4a-a63924c5e9d5": ClassUpgrades,
}

// Classifications lists the classifications rmm knows, in the order the
// console shows them.
func Classifications() []string {
	return []string{ClassCritical, ClassSecurity, ClassDefinition, ClassRollups, ClassUpdates, ClassFeature,
		ClassService, ClassTools, ClassDrivers, ClassUpgrades}
}

// ClassificationID returns the category GUID of an English classification
// name (any case), "" when unknown.
func ClassificationID(name string) string {
	for id, n := range classificationIDs {
		if strings.EqualFold(n, name) {
			return id
		}
	}
	return ""
}

// normalize names an update's classification in English from its GUID
// (a German host reports "Sicherheitsupdates"), trims its fields and
// capitalises its KB.
func (u *Update) normalize() {
	u.UpdateID = strings.ToLower(strings.TrimSpace(u.UpdateID))
	u.ClassificationID = strings.ToLower(strings.TrimSpace(u.ClassificationID))
	if n, ok := classificationIDs[u.ClassificationID]; ok {
		u.Classification = n
	}
	u.KB = strings.ToUpper(strings.TrimSpace(u.KB))
	u.Severity = strings.TrimSpace(u.Severity)
	u.Title = strings.TrimSpace(u.Title)
}

// IsSecurity reports an update that counts for compliance: Security
// Updates and Critical Updates.
func (u Update) IsSecurity() bool {
	return u.Classification == ClassSecurity || u.Classification == ClassCritical
}

// ParsePatchScan decodes patch_scan's output; the result is normalized
// (English classifications, lower-case UpdateIDs) and ready to store.
func ParsePatchScan(stdout []byte) (*PatchScan, error) {
	doc := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(stdout), []byte("\xef\xbb\xbf")))
	if len(doc) == 0 {
		return nil, fmt.Errorf("patch scan: empty output")
	}
	var s PatchScan
	if err := json.Unmarshal(doc, &s); err != nil {
		return nil, fmt.Errorf("patch scan: %w", err)
	}
	for i := range s.Missing {
		s.Missing[i].normalize()
	}
	for i := range s.Installed {
		s.Installed[i].normalize()
	}
	if s.Missing == nil {
		s.Missing = psjson.List[Update]{}
	}
	if s.Installed == nil {
		s.Installed = psjson.List[Update]{}
	}
	return &s, nil
}

// UpdateResult is one update's outcome in patch_install's progress file.
type UpdateResult struct {
	UpdateID       string `json:"update_id"`
	KB             string `json:"kb"`
	Title          string `json:"title"`
	DownloadResult int    `json:"download_result"`
	ResultCode     int    `json:"result_code"` // OperationResultCode: 0 not started, 2 succeeded, 3 with errors, 4 failed, 5 aborted
	HResult        int64  `json:"hresult"`
	RebootRequired bool   `json:"reboot_required"`
	Message        string `json:"message"`
}

// Operation result codes of the Windows Update Agent (OperationResultCode).
const (
	ResultNotStarted          = 0
	ResultInProgress          = 1
	ResultSucceeded           = 2
	ResultSucceededWithErrors = 3
	ResultFailed              = 4
	ResultAborted             = 5
)

// Succeeded reports an update that installed (with or without errors).
func (r UpdateResult) Succeeded() bool {
	return r.ResultCode == ResultSucceeded || r.ResultCode == ResultSucceededWithErrors
}

// PatchProgress is patch_install's progress file.
type PatchProgress struct {
	Job            string                    `json:"job"`
	State          string                    `json:"state"` // running, done, failed
	Phase          string                    `json:"phase"` // searching, downloading, installing, done
	Current        int                       `json:"current"`
	Total          int                       `json:"total"`
	KB             string                    `json:"kb"`
	Percent        int                       `json:"percent"`
	Started        UTCTime                   `json:"started"`
	Updated        UTCTime                   `json:"updated"`
	Finished       UTCTime                   `json:"finished"`
	RebootRequired bool                      `json:"reboot_required"`
	HResult        int64                     `json:"hresult"`
	Message        string                    `json:"message"`
	Updates        psjson.List[UpdateResult] `json:"updates"`
}

// Final reports a progress document the script wrote last (done or
// failed).
func (p PatchProgress) Final() bool { return p.State == "done" || p.State == "failed" }

// PatchTaskState is what patch_task's poll (and start and cancel) read.
type PatchTaskState struct {
	Exists        bool    `json:"exists"`
	State         int     `json:"state"` // TASK_STATE: 0 unknown, 1 disabled, 2 queued, 3 ready, 4 running
	LastRun       UTCTime `json:"last_run"`
	LastResult    int64   `json:"last_result"`
	Progress      string  `json:"progress"` // the progress file's text, "" when there is none yet
	ProgressError string  `json:"progress_error"`
	LastBoot      UTCTime `json:"last_boot"`
	Servicing     int     `json:"servicing"` // ServicingInProgress: 0 idle, 1 waiting for a restart, 2 busy
	RebootPending bool    `json:"reboot_pending"`
}

// Task states (TASK_STATE).
const (
	TaskUnknown  = 0
	TaskDisabled = 1
	TaskQueued   = 2
	TaskReady    = 3
	TaskRunning  = 4
)

// PatchTaskReply is patch_task's document.
type PatchTaskReply struct {
	OK      bool            `json:"ok"`
	Message string          `json:"message"`
	Data    *PatchTaskState `json:"data"`
}

// ParsePatchTask decodes patch_task's output.
func ParsePatchTask(stdout []byte) (PatchTaskReply, error) {
	doc := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(stdout), []byte("\xef\xbb\xbf")))
	var r PatchTaskReply
	if len(doc) == 0 {
		return r, fmt.Errorf("patch task: empty output")
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return r, fmt.Errorf("patch task: %w", err)
	}
	return r, nil
}

// ProgressDoc decodes the progress file the task state carries; ok is
// false when there is none (or it cannot be read yet).
func (s PatchTaskState) ProgressDoc() (PatchProgress, bool, error) {
	text := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace([]byte(s.Progress)), []byte("\xef\xbb\xbf")))
	if len(text) == 0 {
		return PatchProgress{}, false, nil
	}
	var p PatchProgress
	if err := json.Unmarshal(text, &p); err != nil {
		return PatchProgress{}, false, fmt.Errorf("progress file: %w", err)
	}
	return p, true, nil
}
