package main

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/threada/threada/internal/domain"
)

type destinationView struct {
	Destination         string     `json:"destination"`
	State               string     `json:"state"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	OpenedAt            *timestamp `json:"opened_at"`
	NextProbeAt         *timestamp `json:"next_probe_at"`
	LastAttemptAt       timestamp  `json:"last_attempt_at"`
	Attempts5m          int        `json:"attempts_5m"`
	SuccessRate5m       *float64   `json:"success_rate_5m"`
	P50LatencyMS5m      *float64   `json:"p50_latency_ms_5m"`
}

func destinationViewOf(d *domain.DestinationHealth) destinationView {
	v := destinationView{Destination: d.Destination, State: d.State, ConsecutiveFailures: d.ConsecutiveFailures,
		OpenedAt: optTime(d.OpenedAt), NextProbeAt: optTime(d.NextProbeAt), LastAttemptAt: timestamp(d.LastAttemptAt),
		Attempts5m: d.Attempts, P50LatencyMS5m: d.P50LatencyMS}
	if d.Attempts > 0 {
		r := float64(d.Succeeded) / float64(d.Attempts)
		v.SuccessRate5m = &r
	}
	if d.State != domain.DestinationOpen {
		v.NextProbeAt = nil
	}
	return v
}

// listDestinations handles GET /destinations: each destination the tenant's actions called
// in the last 7 days, by name, with its circuit and its last 5 minutes.
func (s *server) listDestinations(c *fiber.Ctx) error {
	l, err := parseListing(c, "destinations", keyOf(c).TenantID)
	if err != nil {
		return err
	}
	after := ""
	if l.after != nil {
		after = l.after.ID
	}
	ds, more, err := s.store.ListDestinations(c.UserContext(), keyOf(c).TenantID, after, l.limit)
	if err != nil {
		return err
	}
	return c.JSON(pageFor(l, ds, more, destinationViewOf, func(d *domain.DestinationHealth) (time.Time, string) {
		return time.UnixMicro(0), d.Destination
	}))
}
