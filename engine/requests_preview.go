package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/rmmhq/rmm/store"
)

// PreviewImport is an import's dry run (rmm import --dry-run): what
// importing the stream would add and change, device by device, with the
// refusal the caller's role would meet, and nothing written. It reads
// each row's stored device by its hostname (one indexed lookup), so it
// takes no write lock from a running console.
type PreviewImport struct {
	Source string
	Stream DeviceStream
}

// ImportPreview is what PreviewImport found.
type ImportPreview struct {
	Added     int             `json:"added"`
	Updated   int             `json:"updated"`
	Unchanged int             `json:"unchanged"`
	Changes   []DeviceChanges `json:"changes"` // the first MaxPreviewChanges devices added or changed, in file order
	More      int             `json:"more"`    // devices added or changed beyond those
	// Refused is the refusal the import would meet for the caller's
	// role (an Operator setting a credential...), "" when none.
	Refused string `json:"refused"`
}

// DeviceChanges is one device an import would add or change.
type DeviceChanges struct {
	Hostname string              `json:"hostname"`
	Line     int                 `json:"line"`
	Added    bool                `json:"added"`
	Changes  []store.FieldChange `json:"changes"`
}

// MaxPreviewChanges is how many devices a preview lists.
const MaxPreviewChanges = 1000

// Action implements Request.
func (PreviewImport) Action() string { return "devices.import_preview" }

// Permission implements Request: who may import may see what it would do.
func (PreviewImport) Permission() Permission { return PermDevicesEdit }

// Mutating implements Request: nothing is written.
func (PreviewImport) Mutating() bool { return false }

// Targets implements Request.
func (r PreviewImport) Targets() []string { return []string{r.Source} }

// Details implements Request.
func (r PreviewImport) Details() map[string]any { return map[string]any{"source": r.Source} }

func (r PreviewImport) run(ctx context.Context, e *Engine, id Identity) (ImportPreview, error) {
	var p ImportPreview
	if r.Stream == nil {
		return p, errors.New("preview import: no rows")
	}
	guard, err := e.trustGuard(ctx, id.Role, r.Source)
	if err != nil {
		return p, err
	}
	defer guard.close()
	err = r.Stream.Each(func(in store.DeviceInput) error {
		if guard != nil {
			guard.note(in)
		}
		stored, err := e.db.DeviceByHostname(ctx, in.Hostname)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("preview %s: %w", r.Source, err)
		}
		changes := store.PreviewInput(stored, exists, in)
		switch {
		case !exists:
			p.Added++
		case len(changes) == 0:
			p.Unchanged++
			return nil
		default:
			p.Updated++
		}
		if len(p.Changes) < MaxPreviewChanges {
			p.Changes = append(p.Changes, DeviceChanges{Hostname: in.Hostname, Line: in.Line, Added: !exists, Changes: changes})
		} else {
			p.More++
		}
		return nil
	})
	if err != nil {
		return p, err
	}
	if guard != nil {
		if rerr := guard.refusal(); rerr != nil {
			p.Refused = rerr.Error()
		}
	}
	return p, nil
}
