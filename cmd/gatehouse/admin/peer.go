package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// peerListener accepts only connections from the daemon's own uid or root.
type peerListener struct {
	net.Listener
	log *slog.Logger
}

// Accept drops connections from other users, logging who tried.
func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if err != nil {
			l.log.Warn("admin socket: cannot read peer credentials", "err", err)
			c.Close()
			continue
		}
		if uid != 0 && uid != uint32(os.Getuid()) {
			l.log.Warn("admin socket: refused connection from another user", "uid", uid)
			c.Close()
			continue
		}
		return c, nil
	}
}

// peerUID reads the connecting process's uid with SO_PEERCRED.
func peerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix socket connection: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return 0, fmt.Errorf("peer credentials: %w", credErr)
	}
	return cred.Uid, nil
}

type peerKey struct{}

// withPeer stores the peer's user name in the connection's context.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	uid, err := peerUID(c)
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, userName(uid))
}

// peerFrom is the user name stored by withPeer.
func peerFrom(ctx context.Context) string {
	if s, ok := ctx.Value(peerKey{}).(string); ok {
		return s
	}
	return "unknown"
}

// userName names uid, falling back to "uid:N".
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "uid:" + id
}

// CurrentUser names the user running this process, the actor for commands
// that open the store directly.
func CurrentUser() string { return userName(uint32(os.Getuid())) }
