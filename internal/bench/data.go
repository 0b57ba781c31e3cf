package bench

import "context"

// dataSteps are the custody and report benchmarks.
func dataSteps(ctx context.Context, e *Env, r *Results, cfg Config) []struct {
	name string
	fn   func() error
} {
	return nil
}
