// Package fanout wakes a process's stream handlers when another process
// (or this one) commits something they deliver. PostgreSQL is the hub:
// writers NOTIFY a channel in the same transaction as the rows they add;
// each server process holds one LISTEN connection and wakes every local
// subscriber of that channel. A wake-up carries no data: the tables are the
// source of truth, and subscribers read them from their own cursor, so a
// lost notification delays a delivery but never loses it (subscribers are
// also woken periodically and whenever the listener reconnects). The
// listener reconnects by itself when its connection is lost, or its server
// stops answering (store.WaitForNotification); with a multi-host database
// URL it then finds the new primary after a failover.
//
// A subscriber's wake channel holds at most one pending wake-up, so a slow
// subscriber costs the hub nothing.
package fanout

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sinergi-id/sinergi/internal/store"
)

// Hub fans notifications out to local subscribers.
type Hub struct {
	config   *pgx.ConnConfig
	channels []string
	log      *slog.Logger
	// Safety is how often every subscriber is woken regardless.
	Safety time.Duration

	mu   sync.Mutex
	subs map[string]map[*Sub]struct{}
}

// Sub is one subscription.
type Sub struct {
	C       <-chan struct{}
	c       chan struct{}
	hub     *Hub
	channel string
}

// New returns a hub for channels; call Run.
func New(config *pgx.ConnConfig, log *slog.Logger, channels ...string) *Hub {
	return &Hub{config: config, channels: channels, log: log, Safety: 2 * time.Second, subs: map[string]map[*Sub]struct{}{}}
}

// Subscribe wakes the returned Sub whenever channel is notified.
func (h *Hub) Subscribe(channel string) *Sub {
	c := make(chan struct{}, 1)
	s := &Sub{C: c, c: c, hub: h, channel: channel}
	h.mu.Lock()
	if h.subs[channel] == nil {
		h.subs[channel] = map[*Sub]struct{}{}
	}
	h.subs[channel][s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Close ends the subscription.
func (s *Sub) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs[s.channel], s)
	s.hub.mu.Unlock()
}

func (s *Sub) wake() {
	select {
	case s.c <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Wake wakes every subscriber of channel (all channels when empty).
func (h *Hub) Wake(channel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch, subs := range h.subs {
		if channel != "" && ch != channel {
			continue
		}
		for s := range subs {
			s.wake()
		}
	}
}

// Run listens until ctx ends, reconnecting as needed.
func (h *Hub) Run(ctx context.Context) {
	go func() {
		t := time.NewTicker(h.Safety)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.Wake("")
			}
		}
	}()
	for ctx.Err() == nil {
		err := h.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("fan-out listener lost; reconnecting", "error", err)
		h.Wake("")
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (h *Hub) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, h.config.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range h.channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	// Anything committed before LISTEN took effect is found by this wake-up.
	h.Wake("")
	for {
		n, err := store.WaitForNotification(ctx, conn)
		if err != nil {
			return err
		}
		h.Wake(n.Channel)
	}
}
