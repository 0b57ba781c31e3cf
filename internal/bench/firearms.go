package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sinergi-id/sinergi/internal/demodata"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// registerWeapons is how many weapons the register query's facility holds:
// a large armoury (a Lapas class I holds a few hundred weapons and pieces
// of equipment), so that a page of 50 is one of many.
const registerWeapons = 2000

// FirearmsRegister measures the register query: a Polda listing a
// facility's register, newest first, a page of 50 weapons with their
// licences and holders, at concurrency 16 (target p99 20 ms).
func FirearmsRegister(ctx context.Context, e *Env, r *Results, d time.Duration) error {
	if _, err := demodata.Firearms(ctx, e.Store, time.Now()); err != nil {
		return err
	}
	facility := sinergiv1.NewFirearmsServiceClient(e.Conn("lapas-permisan"))
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := n.Add(1); i <= registerWeapons && errs[w] == nil; i = n.Add(1) {
				_, errs[w] = facility.RegisterWeapon(ctx, &sinergiv1.RegisterWeaponRequest{Access: officer,
					Category: sinergiv1.WeaponCategory_WEAPON_CATEGORY_RUBBER_BULLET, Make: "Pindad", Model: "SPR-3 RB", Calibre: "12 gauge",
					SerialNumber: fmt.Sprintf("BENCH-%06d", i), Armoury: "Gudang senjata"})
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register weapons: %w", err)
	}
	polda := sinergiv1.NewFirearmsServiceClient(e.Conn("polda-jawa-tengah"))
	supervision := &sinergiv1.AccessContext{OperatorId: "85051234", Purpose: sinergiv1.Purpose_PURPOSE_OVERSIGHT}
	l := Run(ctx, 16, d, func(ctx context.Context, w int, i int64) error {
		resp, err := polda.ListWeapons(ctx, &sinergiv1.ListWeaponsRequest{Access: supervision, FacilityCode: "lapas-permisan", PageSize: 50})
		if err == nil && len(resp.GetWeapons()) != 50 {
			err = fmt.Errorf("a page of %d weapons, want 50", len(resp.GetWeapons()))
		}
		return err
	})
	if l.FirstErr != nil {
		return l.FirstErr
	}
	r.Add(Figure{Key: "list_weapons_c16_rps", What: "ListWeapons (a Polda, a page of 50 of a facility's register) at concurrency 16", Value: l.Rate(), Unit: "/s"})
	r.Add(Figure{Key: "list_weapons_c16_p99_ms", Value: l.Percentile(99), Op: "<=", Target: 20, Unit: "ms"})
	return nil
}
