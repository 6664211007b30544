package cli

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/jwtgate/jwtgate/gateway"
)

// DefaultWatchDebounce is how long -watch waits after the last change in
// the config file's directory before it reads the file: a Kubernetes
// ConfigMap update, an editor's save and a deploy tool's copy are each
// several events within milliseconds.
const DefaultWatchDebounce = 250 * time.Millisecond

// reloader reloads the gateway's -config on SIGHUP (Env.Reload) and, with
// -watch, when the file's content changes. Its goroutine is Run's: start
// it with start, stop it with stop before the gateway closes.
type reloader struct {
	g    *gateway.Gateway
	args []string // the command line: a reload applies the same flags over the new file
	file string   // -config
	env  Env
	log  *slog.Logger

	changed chan struct{} // the watcher's: the directory changed, debounced (1 buffered)
	watch   *dirWatcher   // nil without -watch

	last [sha256.Size]byte // the content last decoded (at start or a reload): the same again is no change

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newReloader sets the reloader up; with watch it watches file's
// directory, from now on, so that nothing written after start is missed
// (see start). opts.ConfigDigest names the content the running config
// was decoded from.
func newReloader(g *gateway.Gateway, args []string, opts Flags, env Env) (*reloader, error) {
	r := &reloader{g: g, args: args, file: opts.ConfigFile, env: env, log: env.Options.Logger, changed: make(chan struct{}, 1), last: opts.ConfigDigest}
	if opts.Demo {
		r.file = "" // the demo's providers and routes are not the file's: nothing to reload
	}
	if opts.Watch {
		debounce := env.WatchDebounce
		if debounce <= 0 {
			debounce = DefaultWatchDebounce
		}
		w, err := watchDir(filepath.Dir(opts.ConfigFile), debounce, r.log, func() {
			select {
			case r.changed <- struct{}{}:
			default: // one is pending already: it reads the file then
			}
		})
		if err != nil {
			return nil, err
		}
		r.watch = w
		// Written between the load at start and the watch: seen now.
		r.changed <- struct{}{}
	}
	return r, nil
}

// start runs the reloader's goroutine until stop or ctx's end.
func (r *reloader) start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Go(func() { r.run(ctx) })
}

// stop stops the goroutine and the watcher and waits for them.
func (r *reloader) stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	if r.watch != nil {
		r.watch.Close()
	}
}

func (r *reloader) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.env.Reload:
			if r.file == "" {
				r.log.Warn("gateway: SIGHUP: no -config file to reload (or the demo runs); ignored")
				continue
			}
			r.log.Info("gateway: SIGHUP: reloading the config", "file", r.file)
			r.reload(ctx, true)
		case <-r.changed:
			r.reload(ctx, false)
		}
	}
}

// reload reloads -config with the command line's flags over it, unless
// !always and its content is the one last decoded (an event that changed
// nothing: a touch, a ConfigMap sync of the same data, another file in
// the directory). The file is read once: what is compared is what was
// decoded, so an edit landing after the read is a change the next event
// sees. A file that cannot be read or parsed is a refused reload like any
// other: the gateway logs and counts it.
func (r *reloader) reload(ctx context.Context, always bool) {
	cfg, opts, err := ParseArgs(r.args, io.Discard)
	if sum := opts.ConfigDigest; sum != ([sha256.Size]byte{}) {
		if r.env.onCheck != nil {
			r.env.onCheck(always || sum != r.last)
		}
		if !always && sum == r.last {
			return
		}
		r.last = sum
		if !always {
			r.log.Info("gateway: config file changed: reloading", "file", r.file)
		}
	}
	_ = r.g.ReloadFrom(ctx, func() (gateway.Config, error) {
		if err != nil {
			return cfg, withRestOfFile(err, cfg, r.env.LookupEnv)
		}
		return cfg, nil
	}) // logged, counted and reported by the gateway
}

// dirWatcher calls changed once a directory has been quiet for debounce
// after events in it. It watches the directory, not a file: editors and
// deploy tools replace a file by renaming another over it, and a
// Kubernetes ConfigMap mount replaces a "..data" symbolic link to a new
// directory (the file itself is a link through it), neither of which a
// watch on the file would see.
type dirWatcher struct {
	fsw  *fsnotify.Watcher
	done chan struct{}
	wg   sync.WaitGroup
}

func watchDir(dir string, debounce time.Duration, log *slog.Logger, changed func()) (*dirWatcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := fsw.Add(dir); err != nil {
		fsw.Close()
		return nil, err
	}
	w := &dirWatcher{fsw: fsw, done: make(chan struct{})}
	events := make(chan struct{})
	w.wg.Go(func() {
		defer close(events)
		for {
			select {
			case <-w.done:
				return
			case _, ok := <-fsw.Events:
				if !ok {
					return
				}
				select {
				case events <- struct{}{}:
				case <-w.done:
					return
				}
			case err, ok := <-fsw.Errors:
				if !ok {
					return
				}
				log.Warn("gateway: -watch", "dir", dir, "err", err)
			}
		}
	})
	w.wg.Go(func() { debounceLoop(events, debounce, changed) })
	return w, nil
}

// Close stops watching and waits for the watcher's goroutines.
func (w *dirWatcher) Close() error {
	close(w.done)
	err := w.fsw.Close()
	w.wg.Wait()
	return err
}

// debounceLoop calls fire once events has been quiet for d after one or
// more events, until events is closed.
func debounceLoop(events <-chan struct{}, d time.Duration, fire func()) {
	timer := time.NewTimer(d)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
			timer.Reset(d)
		case <-timer.C:
			fire()
		}
	}
}

// errNoConfig is ParseArgs' answer to -watch without -config.
var errNoConfig = errors.New("-watch watches the -config file: give -config")
