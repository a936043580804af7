package contract

import "time"

// The timer workflow (internal/timers arms it): TimerWorkflowName is its type, SignalArm
// the signal that (re)arms it. Its ID is the timer's.
const (
	TimerWorkflowName = "TicketTimer"
	SignalArm         = "arm"
)

// TimerInput starts a timer's workflow; Arm is its signal. A signal of an older generation
// than the workflow holds is ignored.
type TimerInput struct {
	TimerID    string
	Generation int64
	DueAt      time.Time
}

// Arm (re)arms a timer's workflow; a zero DueAt disarms it (the workflow ends, unless a
// newer arm follows).
type Arm struct {
	Generation int64
	DueAt      time.Time
}
