package budget

import (
	"fmt"
	"time"
)

// Window is the period a budget's Limit is spent over. Windows are fixed
// and aligned, computed in UTC from the budget's clock: a minute starts at
// :00, a day at 00:00 UTC, a month at 00:00 UTC on its first day (a
// calendar month, 28 to 31 days). Everything a key used is forgotten when
// its window ends. Fixed windows let a key spend up to twice its Limit
// across a boundary (the end of one and the start of the next); that is
// the price of a budget anyone can read off a calendar ("100k tokens a
// day") and of one Redis INCRBY per charge.
type Window uint8

const (
	// PerMinute resets every minute.
	PerMinute Window = iota + 1
	// PerHour resets every hour.
	PerHour
	// PerDay resets at 00:00 UTC.
	PerDay
	// PerMonth resets at 00:00 UTC on the first of each month.
	PerMonth
)

// String returns "minute", "hour", "day" or "month".
func (w Window) String() string {
	switch w {
	case PerMinute:
		return "minute"
	case PerHour:
		return "hour"
	case PerDay:
		return "day"
	case PerMonth:
		return "month"
	}
	return fmt.Sprintf("Window(%d)", uint8(w))
}

// ParseWindow is the inverse of String, for configuration files.
func ParseWindow(s string) (Window, bool) {
	for w := PerMinute; w <= PerMonth; w++ {
		if w.String() == s {
			return w, true
		}
	}
	return 0, false
}

// length is the window's nominal length: a month is 30 days.
func (w Window) length() time.Duration {
	switch w {
	case PerMinute:
		return time.Minute
	case PerHour:
		return time.Hour
	case PerDay:
		return 24 * time.Hour
	case PerMonth:
		return 30 * 24 * time.Hour
	}
	return 0
}

func (w Window) valid() bool { return w >= PerMinute && w <= PerMonth }

// Bounds returns the window holding now: [start, end), in UTC.
func (w Window) Bounds(now time.Time) (start, end time.Time) {
	now = now.UTC()
	switch w {
	case PerMinute:
		start = now.Truncate(time.Minute)
		return start, start.Add(time.Minute)
	case PerHour:
		start = now.Truncate(time.Hour)
		return start, start.Add(time.Hour)
	case PerDay:
		start = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case PerMonth:
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	return now, now
}

// Validate checks a Limit and Window pair for a budget's config; field
// names are those of LocalConfig and redisbudget.Config.
func Validate(limit int64, w Window) error {
	switch {
	case limit <= 0:
		return &ConfigError{Field: "Limit", Reason: "must be positive"}
	case limit > MaxLimit:
		return &ConfigError{Field: "Limit", Reason: fmt.Sprintf("must be at most %d", int64(MaxLimit))}
	case !w.valid():
		return &ConfigError{Field: "Window", Reason: "must be PerMinute, PerHour, PerDay or PerMonth"}
	}
	return nil
}
