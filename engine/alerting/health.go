package alerting

import (
	"errors"
	"fmt"
)

// HealthWeights are the points of each part; they sum to 100.
type HealthWeights struct {
	Availability int
	Performance  int
	Security     int
	Compliance   int
}

// DefaultHealthWeights gives each part 25 points.
func DefaultHealthWeights() HealthWeights {
	return HealthWeights{Availability: 25, Performance: 25, Security: 25, Compliance: 25}
}

// Validate checks that each weight is 0..100 and that they sum to 100.
func (w HealthWeights) Validate() error {
	var errs []error
	for _, p := range []struct {
		name string
		v    int
	}{{"availability", w.Availability}, {"performance", w.Performance}, {"security", w.Security}, {"compliance", w.Compliance}} {
		if p.v < 0 || p.v > 100 {
			errs = append(errs, &SettingError{Field: "health.weights." + p.name, Problem: fmt.Sprintf("%d is out of range 0..100", p.v)})
		}
	}
	if sum := w.Availability + w.Performance + w.Security + w.Compliance; len(errs) == 0 && sum != 100 {
		errs = append(errs, &SettingError{Field: "health.weights",
			Problem: fmt.Sprintf("availability %d + performance %d + security %d + compliance %d = %d, want 100",
				w.Availability, w.Performance, w.Security, w.Compliance, sum)})
	}
	return errors.Join(errs...)
}
