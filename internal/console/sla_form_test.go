package console

import (
	"encoding/json"
	"testing"
)

func TestShortDuration(t *testing.T) {
	for in, want := range map[string]string{"4h0m0s": "4h", "30m0s": "30m", "1h30m0s": "1h30m", "90s": "90s", "1m30s": "1m30s", "": ""} {
		if got := shortDuration(in); got != want {
			t.Errorf("shortDuration(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSLADraftBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(d *slaDraft)
		want   string // the business_hours and targets sent, as JSON
		errors []string
	}{
		{"around the clock", func(d *slaDraft) {}, `{"business_hours":null,"targets":{"urgent":{"resolution":"4h"}}}`, nil},
		{"business hours", func(d *slaDraft) {
			d.BusinessHours, d.TimeZone = true, "Europe/Berlin"
			d.Hours["monday"], d.Hours["sunday"] = " 09:00-12:00 ,13:00 - 17:30", ""
			d.Holidays = "2026-12-25\r\n2026-12-26,  2027-01-01\n"
		}, `{"business_hours":{"time_zone":"Europe/Berlin","weekly":{"monday":[{"start":"09:00","end":"12:00"},{"start":"13:00","end":"17:30"}]},` +
			`"holidays":["2026-12-25","2026-12-26","2027-01-01"]},"targets":{"urgent":{"resolution":"4h"}}}`, nil},
		{"a range without a dash", func(d *slaDraft) { d.BusinessHours, d.Hours["friday"] = true, "9 to 5" }, "", []string{"business_hours.weekly.friday"}},
		{"no target", func(d *slaDraft) { d.Targets["urgent"]["resolution"] = "" }, "", []string{"targets"}},
		{"words for numbers", func(d *slaDraft) { d.Position, d.WarningPercent = "first", "most" }, "", []string{"position", "warning_percent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newSLADraft()
			d.Targets["urgent"]["resolution"] = "4h"
			tc.edit(&d)
			body, errs := d.body()
			var params []string
			for _, e := range errs {
				params = append(params, e.Param)
			}
			if len(params) != len(tc.errors) || (len(params) > 0 && params[0] != tc.errors[0]) || (len(params) > 1 && params[1] != tc.errors[1]) {
				t.Fatalf("errors %v, want %v", params, tc.errors)
			}
			if tc.errors != nil {
				return
			}
			got, _ := json.Marshal(map[string]any{"business_hours": body["business_hours"], "targets": body["targets"]})
			if string(got) != tc.want {
				t.Errorf("sent %s\nwant %s", got, tc.want)
			}
		})
	}
}
