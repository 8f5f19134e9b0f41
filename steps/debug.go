package steps

import (
	"context"
	"fmt"
	"log/slog"
)

// logDebug writes one debug event to log (Options.Log); nil logs nothing.
func logDebug(log *slog.Logger, msg string, args ...any) {
	if log != nil {
		log.LogAttrs(context.Background(), slog.LevelDebug, msg, attrs(args)...)
	}
}

func attrs(args []any) []slog.Attr {
	out := make([]slog.Attr, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		out = append(out, slog.Any(fmt.Sprint(args[i]), args[i+1]))
	}
	return out
}

func (s *Session) debugf(format string, args ...any) {
	if s.opt.Log != nil {
		logDebug(s.opt.Log, fmt.Sprintf(format, args...))
	}
}
